"""Every number of the translator configs, pinned (docs/method_facts.md,
"Hyper-parameters", CycleGAN rows)."""
import glob
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper

from mmbdl.registry import MODELS, PARAM_SCHEDULERS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
BASE_MODEL = osp.join(REPO, 'configs/_base_/models/cyclegan_perceptual.py')
SCHEDULE = osp.join(REPO, 'configs/_base_/schedules/cyclegan_20e.py')
LEAVES = {
    'gta5': ('cyclegan-perceptual_deeplabv2-r101_1xb4-20e_'
             'gta5-to-cityscapes-452x452.py', 24966, (1280, 720)),
    'synthia': ('cyclegan-perceptual_deeplabv2-r101_1xb4-20e_'
                'synthia-to-cityscapes-452x452.py', 9400, (1280, 760)),
}


def _receptive_field(disc: torch.nn.Module) -> int:
    """Receptive field of a chain of convolutions."""
    field, jump = 1, 1
    for module in disc.modules():
        if isinstance(module, torch.nn.Conv2d):
            field += (module.kernel_size[0] - 1) * jump
            jump *= module.stride[0]
    return field


def test_translator_base_model_numbers():
    cfg = Config.fromfile(BASE_MODEL).translator
    assert cfg.type == 'PerceptualCycleGAN'
    assert cfg.generator.type == 'mmagic.ResnetGenerator'
    assert cfg.generator.num_blocks == 9
    assert cfg.generator.base_channels == 64
    assert cfg.generator.norm_cfg == dict(type='IN')
    assert cfg.discriminator.type == 'mmagic.PatchDiscriminator'
    assert cfg.buffer_size == 50
    assert cfg.loss_config == dict(cycle_loss_weight=10.0, id_loss_weight=5.0)
    assert cfg.perceptual_loss_cfg == dict(
        loss_type='mse_in', lambda_per=0.1, lambda_per_recon=10.0)
    assert cfg.num_classes == 19
    assert cfg.data_preprocessor.mean == 127.5
    assert cfg.data_preprocessor.std == 127.5
    assert cfg.data_preprocessor.output_channel_order == 'RGB'
    assert cfg.reachable_domains == ['source', 'target']
    # builds as a plain CycleGAN (no M); the PatchGAN sees 70x70 patches
    model = MODELS.build(cfg)
    assert model.perceptual_model is None
    assert _receptive_field(model.discriminators['target']) == 70
    for net in (model.generators['target'], model.discriminators['target']):
        assert (net.init_type, net.init_gain) == ('normal', 0.02)
    n_blocks = sum(1 for m in model.generators['target'].modules()
                   if type(m).__name__ == 'ResidualBlockWithDropout')
    assert n_blocks == 9


def test_schedule_numbers():
    cfg = Config.fromfile(SCHEDULE)
    ipe = cfg.iters_per_epoch
    assert ipe == math.ceil(24966 / 4) == 6242
    assert cfg.train_cfg.max_iters == 20 * ipe == 124840
    for key in ('generators', 'discriminators'):
        optim = cfg.optim_wrapper[key].optimizer
        assert (optim.type, optim.lr, tuple(optim.betas)) == (
            'Adam', 2e-4, (0.5, 0.999))
    assert cfg.optim_wrapper.constructor == \
        'MultiSubmoduleOptimWrapperConstructor'
    lrs = _lr_curve(cfg)
    assert len(lrs) == 124840
    # 10 epochs at 2e-4, then linear to 0 over 10 epochs
    assert all(lr == 2e-4 for lr in lrs[:10 * ipe + 1])
    assert lrs[15 * ipe] == pytest.approx(1e-4, rel=1e-4)
    assert lrs[-1] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(lrs[10 * ipe:], lrs[10 * ipe + 1:]))


def _lr_curve(cfg) -> list:
    param = torch.nn.Parameter(torch.zeros(1))
    optim = OptimWrapper(torch.optim.Adam([param], lr=2e-4))
    schedulers = [
        PARAM_SCHEDULERS.build(dict(s), default_args=dict(optimizer=optim))
        for s in cfg.param_scheduler
    ]
    lrs = []
    for _ in range(cfg.train_cfg.max_iters):
        lrs.append(optim.param_groups[0]['lr'])
        optim.step()
        for scheduler in schedulers:
            scheduler.step()
    return lrs


@pytest.mark.parametrize('name', sorted(LEAVES))
def test_leaf_configs(name):
    fname, num_images, scale = LEAVES[name]
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'bdl', fname))
    ipe = math.ceil(num_images / 4)
    assert cfg.iters_per_epoch == ipe
    assert cfg.train_cfg.max_iters == 20 * ipe
    (sched, ) = cfg.param_scheduler
    assert (sched.begin, sched.end) == (10 * ipe, 20 * ipe)
    assert (sched.start_factor, sched.end_factor) == (1.0, 0.0)
    assert cfg.train_dataloader.batch_size == 4
    model = cfg.model
    assert model.type == 'PerceptualCycleGAN'
    assert model.generator.num_blocks == 9
    assert model.loss_config.id_loss_weight == 5.0
    assert model.perceptual_loss_cfg.lambda_per == 0.1
    assert model.perceptual_loss_cfg.lambda_per_recon == 10.0
    # M is the DeepLab segmentor with Caffe normalisation and 19 classes
    seg = model.perceptual_model
    assert seg.decode_head.num_classes == model.num_classes == 19
    pre = seg.data_preprocessor
    assert list(pre.mean) == pytest.approx([104.00699, 116.66877, 122.67891])
    assert list(pre.std) == [1.0, 1.0, 1.0]
    assert not pre.get('bgr_to_rgb', False)
    # the translated set is written at the segmentation training size
    assert tuple(cfg.translate_cfg.scale) == scale
    hooks = [h.type for h in cfg.custom_hooks]
    assert 'TranslationVisualizationHook' in hooks
    # the pipeline resizes both images to width 1024 (keeping the aspect
    # ratio) and crops 452x452 from them
    _check_translation_pipeline(cfg.train_dataloader.dataset.pipeline,
                                source_size=scale)


def _check_translation_pipeline(pipeline, source_size):
    import numpy as np

    from mmbdl.registry import TRANSFORMS
    width, height = source_size
    results = dict(
        img_source=np.zeros((height, width, 3), np.uint8),
        img_target=np.zeros((1024, 2048, 3), np.uint8))
    for key in ('img_source', 'img_target'):
        results[f'ori_{key}_shape'] = results[key].shape[:2]
    shapes = []
    for step in pipeline:
        if 'LoadImageFromFile' in step['type']:
            continue
        transform = TRANSFORMS.build(step)
        results = transform(results)
        if 'PackInputs' in step['type']:
            packed = results['inputs']
            shapes.append(('packed', {k: tuple(v.shape)
                                      for k, v in packed.items()}))
        else:
            shapes.append((step['type'], results['img_source'].shape[:2],
                           results['img_target'].shape[:2]))
    resized = round(height * 1024 / width)
    assert shapes[0] == ('ResizeWidth', (resized, 1024), (512, 1024))
    assert shapes[1] == ('mmagic.Crop', (452, 452), (452, 452))
    # both domains packed as CHW tensors of the crop size
    assert shapes[-1] == ('packed', dict(img_source=(3, 452, 452),
                                         img_target=(3, 452, 452)))


def test_leaf_configs_exist():
    found = {osp.basename(p) for p in glob.glob(
        osp.join(REPO, 'configs', 'bdl', 'cyclegan-perceptual_*.py'))}
    assert found == {fname for fname, _, _ in LEAVES.values()}
