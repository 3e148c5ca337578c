"""The whole BDL loop with swapped backbones (SegFormer MiT-B5, DeepLab-v3+).

Each leaf config is built at full size (parameter counts pinned) and, with
the segmentor shrunk, trained for 2 iterations of every phase kind on tiny
images with its own optimizer and lr schedule.
"""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config, ConfigDict

from mmbdl.registry import MODELS
from mmbdl.utils import get_inference_segmentor

# trains or compares whole steps of real models: make test-quick leaves
# it out (tests/conftest.py, the slow marker)
pytestmark = pytest.mark.slow

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SEGFORMER = 'configs/bdl/bdl_segformer-mit-b5_1xb1-k2n2_gta5-to-cityscapes-' \
    '512x512.py'
DLV3P = 'configs/bdl/bdl_deeplabv3plus-r101-d8_1xb1-k2n2_gta5-to-' \
    'cityscapes-1024x512.py'
# parameters of M (the inference segmentor) at full size, 19 classes
FULL_SIZE = {
    SEGFORMER: dict(backbone='MixVisionTransformer', head='SegformerHead',
                    align_corners=False),
    DLV3P: dict(backbone='ResNetV1c', head='DepthwiseSeparableASPPHead',
                align_corners=False),
}


def load(path):
    return Config.fromfile(osp.join(REPO, path))


def count(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize('path', [SEGFORMER, DLV3P])
def test_full_size_build(path):
    cfg = load(path)
    model = MODELS.build(cfg.model)  # no init_weights: nothing downloaded
    seg = get_inference_segmentor(model)
    expect = FULL_SIZE[path]
    assert type(seg.backbone).__name__ == expect['backbone']
    assert type(seg.decode_head).__name__ == expect['head']
    assert seg.decode_head.align_corners is expect['align_corners']
    assert model.segmentor.align_corners is expect['align_corners']
    # D reads the swapped head's class probabilities
    assert model.segmentor.discriminator.num_classes == 19
    # F's perceptual model is the same architecture as M
    perceptual = model.translator.perceptual_model
    ours = {k: tuple(v.shape) for k, v in seg.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in perceptual.state_dict().items()}
    assert ours == theirs
    # the swapped backbone starts from pretrained ImageNet weights
    init = cfg.model.segmentor.segmentor.backbone.init_cfg
    assert init.type == 'Pretrained'
    n_m, n_d = count(seg), count(model.segmentor.discriminator)
    n_f = count(model.translator) - count(perceptual)
    print(f'\n{osp.basename(path)}: M {n_m:,} (backbone '
          f'{count(seg.backbone):,}, decode head {count(seg.decode_head):,}'
          f'), D {n_d:,}, F {n_f:,} parameters')
    optim = cfg.optim_wrapper.segmentation.segmentor
    if path == SEGFORMER:
        # DAFormer's optimizer and schedule
        assert (optim.optimizer.type, optim.optimizer.lr,
                optim.optimizer.weight_decay) == ('AdamW', 6e-5, 0.01)
        assert optim.paramwise_cfg.custom_keys.decode_head.lr_mult == 10.0
        for kind in ('segmentation', 'self_training'):
            warmup, poly = cfg.param_scheduler[kind]
            assert (warmup.type, warmup.relative_end) == ('LinearLR', 0.0375)
            assert (poly.type, poly.power) == ('PolyLR', 1.0)
        crops = [t for t in cfg.train_dataloader.dataset.source.pipeline
                 if t.type == 'RandomCrop']
        assert crops[0].crop_size == (512, 512)
        assert count(seg.backbone) == 81_443_008
        assert n_m == 84_611_027
    else:
        assert optim.paramwise_cfg.repeat_modules == []  # plain SGD
        assert count(seg.backbone) == 42_519_392
        assert n_m == 62_582_006
    assert n_d == 2_781_121
    # F: two ResNet generators and two PatchGAN discriminators
    assert n_f == 28_285_832


def shrink(seg: dict) -> dict:
    """The leaf's segmentor with tiny widths/depths, no pretrained init."""
    seg = copy.deepcopy(seg)
    bb, head = seg['backbone'], seg['decode_head']
    bb.pop('init_cfg', None)
    if bb['type'] == 'MixVisionTransformer':
        bb.update(embed_dims=8, num_layers=[1, 1, 1, 1],
                  num_heads=[1, 2, 4, 8])
        head.update(in_channels=[8, 16, 32, 64], channels=16,
                    num_classes=3)
    else:
        bb.update(depth=18, base_channels=8, stem_channels=8)
        head.update(in_channels=64, channels=16, c1_in_channels=8,
                    c1_channels=4, dilations=(1, 2, 3, 4), num_classes=3)
        seg['auxiliary_head'].update(in_channels=32, channels=8,
                                     num_classes=3)
    # the tiny data's Caffe-free normalisation is the leaf's own
    return seg


@pytest.mark.parametrize('path', [SEGFORMER, DLV3P])
def test_two_iterations_of_every_phase(path, tmp_path):
    from bdl_tiny import real_bdl_cfg, write_bdl_data
    from mmengine.runner import Runner
    leaf = load(path)
    data = write_bdl_data(str(tmp_path / 'data'))
    cfg = real_bdl_cfg(data, str(tmp_path / 'work'), num_rounds=1,
                       num_ssl_rounds=1,
                       iters=dict(source_only=2, translation=2, adaptation=2,
                                  self_training=2))
    cfg['train_cfg']['allow_random_init'] = True  # the shrunk backbone
    seg = shrink(leaf.model.segmentor.segmentor.to_dict())
    pre = seg['data_preprocessor']
    cfg['model']['segmentor']['segmentor'] = seg
    cfg['model']['segmentor']['data_preprocessor'] = dict(
        type='UDADataPreProcessor', source=pre, target=pre)
    cfg['model']['translator']['perceptual_model'] = copy.deepcopy(seg)
    # the leaf's own segmentation optimizer and (phase-relative) schedule
    seg_optim = leaf.optim_wrapper.segmentation.to_dict()
    cfg['optim_wrapper']['segmentation'] = seg_optim
    cfg['param_scheduler']['segmentation'] = copy.deepcopy(
        leaf.param_scheduler.segmentation)
    cfg['model'] = ConfigDict(cfg['model'])
    runner = Runner(**cfg)
    model = runner.model
    runner.train()
    rows = runner.train_loop.rows
    assert [r['kind'] for r in rows] == [
        'source_only', 'adaptation', 'self_training']
    assert all(r['mIoU'] is not None for r in rows)
    # the perceptual model received M's weights before the translation
    assert osp.isfile(osp.join(str(tmp_path / 'work'),
                               'k1_self_training_i1.pth'))
    optim = runner.optim_wrapper['segmentor'].optimizer
    assert type(optim).__name__ == seg_optim['segmentor']['optimizer'][
        'type']
    assert torch.isfinite(
        next(get_inference_segmentor(model).parameters())).all()


def test_demo_variants():
    """The online-self-training and tiny-MiT demos change only what they
    name."""
    base = load('configs/bdl/bdl_demo.py')
    ema = load('configs/bdl/bdl_demo_ema.py')
    assert ema.model.segmentor.type == 'EMATeacherSegmentor'
    assert ema.train_cfg.self_training == 'ema_teacher'
    assert ema.train_cfg.init.self_training == 'continue'
    hooks = [h.type for h in ema.custom_hooks]
    assert 'EMATeacherHook' in hooks and 'PseudoLabelHook' not in hooks
    assert ema.model.segmentor.segmentor == base.model.segmentor.segmentor
    mit = load('configs/bdl/bdl_demo_mit.py')
    assert mit.train_cfg == base.train_cfg
    assert mit.optim_wrapper == base.optim_wrapper
    model = MODELS.build(mit.model)
    seg = get_inference_segmentor(model)
    assert type(seg.backbone).__name__ == 'MixVisionTransformer'
    assert model.segmentor.align_corners is False
    ours = {k: tuple(v.shape) for k, v in seg.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in
              model.translator.perceptual_model.state_dict().items()}
    assert ours == theirs
