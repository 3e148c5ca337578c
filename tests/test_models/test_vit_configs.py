"""The DINOv2 configs: full-size builds, the whole loop on a shrunk ViT.

The ViT-B/14 and ViT-L/14 leaves are built on the meta device (no memory,
no weights read) and their parameter counts pinned. The ViT-B leaf's
segmentor, shrunk to a 2-block ViT with 14-pixel patches, trains 2
iterations of every phase kind on 56x56 images (4x4 patches) with the
leaf's optimizer, schedule and online EMA self-training (and with LoRA);
the tiny-ViT demo's M (8-pixel patches) does the same on 64x64 images.
"""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config, ConfigDict

from mmbdl.models.algorithms.bdl import follow_segmentor
from mmbdl.models.translators.perceptual_memory import checkpoint_units
from mmbdl.registry import MODELS
from mmbdl.utils import get_inference_segmentor

# trains or compares whole steps of real models: make test-quick leaves
# it out (tests/conftest.py, the slow marker)
pytestmark = pytest.mark.slow

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
VITB = 'configs/bdl/bdl_dinov2-vitb14_1xb1-k2n2_gta5-to-cityscapes-' \
    '504x504.py'
VITL = 'configs/bdl/bdl_dinov2-vitl14_1xb1-k2n2_gta5-to-cityscapes-' \
    '504x504.py'
OFFLINE = 'configs/bdl/bdl-offline_dinov2-vitb14_1xb1-k2n2_gta5-to-' \
    'cityscapes-504x504.py'
# backbone (the official counts less the unused mask token), decode head,
# blocks, weights file
FULL_SIZE = {
    VITB: (86_579_712, 1_664_851, 12, 'bdl://dinov2-vitb14'),
    VITL: (304_367_616, 2_957_075, 24, 'bdl://dinov2-vitl14'),
}


def load(path):
    return Config.fromfile(osp.join(REPO, path))


def count(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize('path', [VITB, VITL])
def test_full_size_build(path):
    cfg = load(path)
    with torch.device('meta'):
        segmentor = MODELS.build(cfg.model.segmentor)
        perceptual = MODELS.build(follow_segmentor(
            cfg.model.translator, cfg.model.segmentor.to_dict())[
                'perceptual_model'])
    seg = get_inference_segmentor(segmentor)
    n_backbone, n_head, depth, weights = FULL_SIZE[path]
    assert type(seg.backbone).__name__ == 'DINOv2VisionTransformer'
    assert type(seg.decode_head).__name__ == 'SETRUPHead'
    assert (count(seg.backbone), count(seg.decode_head)) == (n_backbone,
                                                             n_head)
    assert seg.backbone.patch_size == 14 and len(seg.backbone.layers) == \
        depth
    assert tuple(seg.backbone.pos_embed.shape) == (
        1, 1 + 37 * 37, seg.backbone.embed_dims)
    assert segmentor.discriminator.num_classes == 19
    # EMA teacher (online self-training) by default, its copy of M
    assert type(segmentor).__name__ == 'EMATeacherSegmentor'
    assert count(segmentor.teacher) == count(seg)
    assert cfg.train_cfg.self_training == 'ema_teacher'
    assert 'EMATeacherHook' in [h.type for h in cfg.custom_hooks]
    # F's perceptual model is M's architecture; its blocks are the units
    # that F's memory saving checkpoints
    assert {k: v.shape for k, v in perceptual.state_dict().items()} == {
        k: v.shape for k, v in seg.state_dict().items()}
    units = checkpoint_units(perceptual)
    assert len(units) == depth
    assert all(type(u).__name__ == 'DINOv2Layer' for u in units)
    assert cfg.model.translator.get('perceptual_memory_saving', True)
    backbone = cfg.model.segmentor.segmentor.backbone
    assert backbone.init_cfg.checkpoint == weights
    assert backbone.lora_cfg is None
    # crops: multiples of 14 for M (504) and for F's perceptual pass (448)
    for branch in ('source', 'target'):
        crops = [t.crop_size for t in
                 cfg.train_dataloader.dataset[branch].pipeline
                 if t.type == 'RandomCrop']
        assert crops == [(504, 504)]
    crops = [t.crop_size for t in
             cfg.train_cfg.phase_dataloaders.translation.dataset.pipeline
             if t.type == 'mmagic.Crop']
    assert crops == [(448, 448)]
    assert seg.data_preprocessor.test_cfg == dict(size_divisor=14)
    # VFM-UDA's recipe
    optim = cfg.optim_wrapper.segmentation.segmentor
    assert optim.constructor == 'ViTLayerDecayOptimWrapperConstructor'
    assert (optim.optimizer.type, optim.optimizer.lr,
            optim.optimizer.weight_decay) == ('AdamW', 5e-5, 0.01)
    assert optim.paramwise_cfg == dict(num_layers=depth, decay_rate=1.0,
                                       backbone_lr_mult=0.1)
    for kind in ('segmentation', 'self_training'):
        warmup, decay = cfg.param_scheduler[kind]
        assert (warmup.type, warmup.start_factor, warmup.relative_end) == (
            'LinearLR', 1e-3, 0.0375)
        assert (decay.type, decay.power, decay.eta_min) == ('PolyLR', 1.0,
                                                            0.0)


def test_offline_variant_changes_only_self_training():
    vitb, offline = load(VITB), load(OFFLINE)
    seg = offline.model.segmentor
    assert seg.type == 'AdvSelfTrainingSegmentor' and 'ema_cfg' not in seg
    assert seg.segmentor == vitb.model.segmentor.segmentor
    assert offline.train_cfg.self_training is None
    assert offline.train_cfg.init.self_training == 'initial'
    hooks = [h.type for h in offline.custom_hooks]
    assert 'PseudoLabelHook' in hooks and 'EMATeacherHook' not in hooks
    assert offline.optim_wrapper == vitb.optim_wrapper


def shrink(seg: dict) -> dict:
    """The leaf's M with a 2-block ViT of width 32, random init."""
    seg = copy.deepcopy(seg)
    seg['backbone'].pop('init_cfg')
    seg['backbone'].update(embed_dims=32, num_layers=2, num_heads=2,
                           img_size=56)
    seg['decode_head'].update(in_channels=32, channels=8, num_classes=3)
    return seg


def run_two_iterations(tmp_path, seg, optim=None, schedule=None,
                       ema=False, size=56, allow_random_init=True):
    from bdl_tiny import real_bdl_cfg, write_bdl_data
    from mmengine.runner import Runner
    data = write_bdl_data(str(tmp_path / 'data'), size=size)
    cfg = real_bdl_cfg(data, str(tmp_path / 'work'), num_rounds=1,
                       num_ssl_rounds=1,
                       iters=dict(source_only=2, translation=2, adaptation=2,
                                  self_training=2),
                       **(dict(self_training='ema_teacher') if ema else {}))
    cfg['train_cfg']['allow_random_init'] = allow_random_init
    pre = seg['data_preprocessor']
    cfg['model']['segmentor']['segmentor'] = seg
    cfg['model']['segmentor']['data_preprocessor'] = dict(
        type='UDADataPreProcessor', source=pre, target=pre)
    cfg['model']['translator']['perceptual_model'] = copy.deepcopy(seg)
    if ema:
        cfg['train_cfg']['init']['self_training'] = 'continue'
        cfg['model']['segmentor']['type'] = 'EMATeacherSegmentor'
        cfg['model']['segmentor']['ema_cfg'] = dict(
            pseudo_threshold=0.968, class_mix=True)
        cfg['custom_hooks'] = [
            h if h['type'] != 'PseudoLabelHook' else dict(
                type='EMATeacherHook', alpha=0.999)
            for h in cfg['custom_hooks']
        ]
    if optim is not None:
        cfg['optim_wrapper']['segmentation'] = optim
    if schedule is not None:
        cfg['param_scheduler']['segmentation'] = schedule
    cfg['model'] = ConfigDict(cfg['model'])
    runner = Runner(**cfg)
    runner.train()
    rows = runner.train_loop.rows
    assert [r['kind'] for r in rows] == [
        'source_only', 'adaptation', 'self_training']
    assert all(r['mIoU'] is not None for r in rows)
    assert osp.isfile(osp.join(str(tmp_path / 'work'),
                               'k1_self_training_i1.pth'))
    model = get_inference_segmentor(runner.model)
    assert type(model.backbone).__name__ == 'DINOv2VisionTransformer'
    assert all(torch.isfinite(p).all() for p in model.parameters())
    return runner


def test_vitb_leaf_two_iterations_of_every_phase(tmp_path):
    leaf = load(VITB)
    seg = shrink(leaf.model.segmentor.segmentor.to_dict())
    runner = run_two_iterations(
        tmp_path, seg, optim=leaf.optim_wrapper.segmentation.to_dict(),
        schedule=copy.deepcopy(leaf.param_scheduler.segmentation), ema=True)
    groups = runner.optim_wrapper['segmentor'].optimizer.param_groups
    # head, blocks and stem at their own rates (decay 1.0: one backbone
    # group at 0.1x)
    assert sorted({round(g['lr_scale'], 6) for g in groups}) == [0.1, 1.0]
    assert type(runner.optim_wrapper['segmentor'].optimizer).__name__ == \
        'AdamW'


def test_random_vit_refused(tmp_path):
    """Without weights (and without allow_random_init) the loop does not
    start, as with every backbone."""
    leaf = load(VITB)
    seg = shrink(leaf.model.segmentor.segmentor.to_dict())
    with pytest.raises(ValueError, match='allow_random_init'):
        run_two_iterations(tmp_path, seg, allow_random_init=False)
    assert not osp.exists(osp.join(str(tmp_path / 'work'),
                                   'k0_source_only.pth'))


def test_vitb_leaf_with_lora_two_iterations(tmp_path):
    leaf = load(VITB)
    seg = shrink(leaf.model.segmentor.segmentor.to_dict())
    seg['backbone']['lora_cfg'] = dict(rank=2, alpha=2)
    runner = run_two_iterations(
        tmp_path, seg, optim=leaf.optim_wrapper.segmentation.to_dict())
    model = get_inference_segmentor(runner.model)
    trainable = {n for n, p in model.backbone.named_parameters()
                 if p.requires_grad}
    assert trainable == {f'layers.{i}.attn.qkv.lora_{ab}'
                         for i in range(2) for ab in 'AB'}


def test_demo_vit_two_iterations_of_every_phase(tmp_path):
    demo = load('configs/bdl/bdl_demo_vit.py')
    base = load('configs/bdl/bdl_demo.py')
    assert demo.train_cfg == base.train_cfg
    assert demo.optim_wrapper == base.optim_wrapper
    assert demo.train_cfg.allow_random_init is True
    seg = demo.model.segmentor.segmentor.to_dict()
    assert seg['backbone']['type'] == 'DINOv2VisionTransformer'
    assert seg['backbone']['patch_size'] == 8
    seg['decode_head']['num_classes'] = 3  # the tiny data's classes
    run_two_iterations(tmp_path, seg, size=64)  # 8x8 patches of 8
