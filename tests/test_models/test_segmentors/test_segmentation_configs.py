"""Every number of docs/method_facts.md for M and D, pinned in the shipped
configs."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper

from mmbdl.registry import PARAM_SCHEDULERS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
BASE = osp.join(REPO, 'configs', '_base_')
BDL = osp.join(REPO, 'configs', 'bdl')
CAFFE_MEAN = [104.00699, 116.66877, 122.67891]


def _cfg(*parts):
    return Config.fromfile(osp.join(*parts))


def test_deeplabv2_model_numbers():
    model = _cfg(BASE, 'models', 'deeplabv2_r101.py').model
    bb, head = model.backbone, model.decode_head
    assert model.type == 'BDLEncoderDecoder' and model.resize_probs
    assert (bb.type, bb.depth, bb.style) == ('DeepLabV2ResNet', 101, 'caffe')
    assert tuple(bb.strides) == (1, 2, 1, 1)
    assert tuple(bb.dilations) == (1, 1, 2, 4)
    assert bb.stem_ceil_mode is True
    assert bb.norm_cfg == dict(type='BN', requires_grad=False)
    assert bb.norm_eval is False
    assert head.type == 'DeepLabV2Head' and head.num_classes == 19
    assert tuple(head.dilations) == (6, 12, 18, 24)
    assert head.num_effective_branches is None
    assert head.align_corners is True
    assert head.loss_decode.avg_non_ignore is True
    pre = model.data_preprocessor
    assert list(pre.mean) == CAFFE_MEAN and list(pre.std) == [1.0] * 3
    assert pre.bgr_to_rgb is False


def test_fcn8s_model_numbers():
    model = _cfg(BASE, 'models', 'fcn8s_vgg16.py').model
    assert model.backbone.first_padding == 100
    assert model.backbone.fc_channels == 4096
    head = model.decode_head
    assert tuple(head.pool_scales) == (0.01, 0.0001)
    assert tuple(head.crop_offsets) == (5, 9, 31)
    assert head.freeze_upsampling is True and head.num_classes == 19
    assert list(model.data_preprocessor.mean) == CAFFE_MEAN


@pytest.mark.parametrize('name, lam', [('adv_deeplabv2_r101.py', 1e-3),
                                       ('adv_fcn8s_vgg16.py', 1e-4)])
def test_adversarial_wrapper_numbers(name, lam):
    model = _cfg(BASE, 'models', name).model
    assert model.type == 'AdvSelfTrainingSegmentor'
    d = model.discriminator
    assert (d.type, d.num_classes, d.base_channels) == ('FCDiscriminator',
                                                        19, 64)
    assert tuple(d.channel_mults) == (1, 2, 4, 8)
    assert d.negative_slope == 0.2
    uda = model.uda_cfg
    assert uda.lambda_adv == lam
    assert (uda.source_label, uda.target_label) == (0.0, 1.0)
    assert uda.disc_loss_weight == 0.5
    assert uda.ignore_index == 255 and uda.adversarial is True
    assert model.data_preprocessor.type == 'UDADataPreProcessor'
    assert list(model.data_preprocessor.target.mean) == CAFFE_MEAN


def _lr_at(cfg, iters, base_lr):
    param = torch.nn.Parameter(torch.zeros(1))
    optim = OptimWrapper(torch.optim.SGD([param], lr=base_lr))
    scheds = [PARAM_SCHEDULERS.build(dict(s), default_args=dict(
        optimizer=optim)) for s in cfg.param_scheduler]
    out, it = {}, 0
    for target in sorted(iters):
        while it < target:
            for s in scheds:
                s.step()
            it += 1
        out[target] = optim.param_groups[0]['lr']
    return out


def test_deeplab_schedule_numbers():
    cfg = _cfg(BASE, 'schedules', 'deeplabv2_sgd-poly-250k_80k.py')
    seg = cfg.optim_wrapper.segmentor
    # the release's effective SGD (tests/test_engine/test_optimizers/
    # test_repeated_sgd.py); repeat_modules=[] is the paper's plain SGD
    assert seg.optimizer == dict(type='RepeatedSGD', lr=2.5e-4, momentum=0.9,
                                 weight_decay=5e-4)
    assert seg.constructor == 'ReleaseParamListOptimWrapperConstructor'
    assert seg.paramwise_cfg.repeat_modules == ['backbone']
    assert seg.paramwise_cfg.custom_keys.decode_head.lr_mult == 10.0
    d = cfg.optim_wrapper.discriminator.optimizer
    assert (d.type, d.lr, tuple(d.betas)) == ('Adam', 1e-4, (0.9, 0.99))
    (poly, ) = cfg.param_scheduler
    assert (poly.type, poly.power, poly.end, poly.eta_min) == (
        'PolyLR', 0.9, 250000, 0.0)
    assert cfg.train_cfg.max_iters == 80000
    lrs = _lr_at(cfg, [0, 1000, 3000], 2.5e-4)
    for it, lr in lrs.items():
        assert lr == pytest.approx(2.5e-4 * (1 - it / 250000)**0.9,
                                   rel=1e-6)


def test_vgg_schedule_numbers():
    cfg = _cfg(BASE, 'schedules', 'fcn8s-vgg16_adam-step-50k_80k.py')
    seg = cfg.optim_wrapper.segmentor
    assert (seg.optimizer.type, seg.optimizer.lr) == ('Adam', 1e-5)
    assert tuple(seg.optimizer.betas) == (0.9, 0.99)
    assert seg.paramwise_cfg.bias_lr_mult == 2.0
    d = cfg.optim_wrapper.discriminator.optimizer
    assert (d.type, d.lr, tuple(d.betas)) == ('Adam', 1e-6, (0.9, 0.99))
    (step, ) = cfg.param_scheduler
    assert (step.type, step.step_size, step.gamma) == ('StepLR', 50000, 0.1)
    lrs = _lr_at(cfg, [49999, 50000, 79999], 1e-5)
    assert lrs[49999] == pytest.approx(1e-5)
    assert lrs[50000] == pytest.approx(1e-6)
    assert cfg.train_cfg.max_iters == 80000


# segmentation-only leaves; the bdl_* loop configs are pinned in
# tests/test_engine/test_runner
LEAVES = sorted(
    osp.basename(p) for p in glob.glob(
        osp.join(BDL, '*_1xb1-*_*-to-cityscapes-1024x512.py'))
    if not osp.basename(p).startswith(('bdl_', 'bdl-')))


def test_all_leaf_configs_exist():
    want = {f'{k}_{m}_1xb1-{i}_{d}-to-cityscapes-1024x512.py'
            for m in ('deeplabv2-r101', 'fcn8s-vgg16')
            for d in ('gta5', 'synthia')
            for k, i in (('source-only', '80k'), ('adv', '80k'),
                         ('adv-ssl', '120k'))}
    assert want <= set(LEAVES)
    assert 'adv_deeplabv3plus-r101-d8_1xb1-80k_gta5-to-cityscapes-' \
        '1024x512.py' in LEAVES


@pytest.mark.parametrize('name', LEAVES)
def test_leaf_config_numbers(name):
    cfg = _cfg(BDL, name)
    model = cfg.model
    assert model.type == 'AdvSelfTrainingSegmentor'
    vgg = 'vgg16' in name
    assert model.uda_cfg.lambda_adv == (1e-4 if vgg else 1e-3)
    assert model.uda_cfg.adversarial is (not name.startswith('source-only'))
    assert cfg.train_dataloader.batch_size == 1
    ssl = name.startswith('adv-ssl')
    assert cfg.train_cfg.max_iters == (120000 if ssl else 80000)
    assert bool(cfg.train_dataloader.dataset.get('pseudo_label_dir')) is ssl
    source = cfg.train_dataloader.dataset.source
    scale = (1280, 760) if 'synthia' in name else (1280, 720)
    assert str(scale) in str(source.pipeline) or \
        str(list(scale)) in str(source.pipeline)
    if 'deeplabv3plus' in name:
        assert model.segmentor.decode_head.type == \
            'DepthwiseSeparableASPPHead'
        assert model.discriminator.type == 'FCDiscriminator'
    else:
        opt = cfg.optim_wrapper.segmentor.optimizer
        assert opt.type == ('Adam' if vgg else 'RepeatedSGD')
