"""MultiSubmoduleOptimWrapperConstructor with the release's optimizers."""
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.optim import OptimWrapperDict, build_optim_wrapper

from mmbdl.engine.optimizers import (MultiSubmoduleOptimWrapperConstructor,
                                     RepeatedSGD)
from mmbdl.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
SCHED = osp.join(REPO, 'configs', '_base_', 'schedules')


class Pair(nn.Module):

    def __init__(self, segmentor, discriminator):
        super().__init__()
        self.segmentor = segmentor
        self.discriminator = discriminator


def _lrs(wrapper, module):
    """lr of every trainable parameter, by name."""
    by_id = {}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            by_id[id(p)] = group['lr']
    return {n: by_id[id(p)] for n, p in module.named_parameters()
            if p.requires_grad}


def test_deeplab_schedule_optimizers():
    cfg = Config.fromfile(osp.join(SCHED, 'deeplabv2_sgd-poly-250k_80k.py'))
    seg = MODELS.build(dict(
        type='EncoderDecoder',
        backbone=dict(type='DeepLabV2ResNet', depth=18, base_channels=4,
                      stem_channels=4, style='pytorch'),
        decode_head=dict(type='DeepLabV2Head', in_channels=32,
                         num_classes=3)))
    model = Pair(seg, MODELS.build(dict(type='FCDiscriminator',
                                        num_classes=3, base_channels=4)))
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    assert isinstance(optim, OptimWrapperDict)
    assert set(optim.keys()) == {'segmentor', 'discriminator'}
    sgd = optim['segmentor'].optimizer
    # the release's effective SGD (test_repeated_sgd.py)
    assert isinstance(sgd, RepeatedSGD)
    lrs = _lrs(optim['segmentor'], seg)
    for name, lr in lrs.items():
        want = 2.5e-3 if name.startswith('decode_head.') else 2.5e-4
        assert lr == pytest.approx(want), name
    assert all(g['momentum'] == 0.9 and g['weight_decay'] == 5e-4
               for g in sgd.param_groups)
    adam = optim['discriminator'].optimizer
    assert isinstance(adam, torch.optim.Adam)
    assert adam.param_groups[0]['lr'] == 1e-4
    assert tuple(adam.param_groups[0]['betas']) == (0.9, 0.99)


def test_vgg_schedule_biases_twice_the_lr():
    cfg = Config.fromfile(osp.join(SCHED,
                                   'fcn8s-vgg16_adam-step-50k_80k.py'))
    seg = MODELS.build(dict(
        type='EncoderDecoder',
        backbone=dict(type='VGG16FCN', stage_channels=(4, 4, 8, 8, 8),
                      fc_channels=16),
        decode_head=dict(type='FCN8sHead', in_channels=(3, 8, 8, 16),
                         num_classes=3)))
    model = Pair(seg, MODELS.build(dict(type='FCDiscriminator',
                                        num_classes=3, base_channels=4)))
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    lrs = _lrs(optim['segmentor'], seg)
    assert lrs['backbone.conv1_1.bias'] == pytest.approx(2e-5)
    assert lrs['backbone.conv1_1.weight'] == pytest.approx(1e-5)
    assert lrs['decode_head.score_fr.bias'] == pytest.approx(2e-5)
    adam = optim['segmentor'].optimizer
    assert isinstance(adam, torch.optim.Adam)
    assert tuple(adam.param_groups[0]['betas']) == (0.9, 0.99)
    d = optim['discriminator'].optimizer
    assert d.param_groups[0]['lr'] == 1e-6
    assert tuple(d.param_groups[0]['betas']) == (0.9, 0.99)


def test_dotted_paths_and_errors():
    model = nn.Module()
    model.translator = nn.Module()
    model.translator.generators = nn.ModuleDict(dict(
        source=nn.Conv2d(1, 1, 1), target=nn.Conv2d(1, 1, 1)))
    ctor = MultiSubmoduleOptimWrapperConstructor(dict(
        **{'translator.generators.source': dict(
            optimizer=dict(type='SGD', lr=0.1))},
        **{'translator.generators.target': dict(
            optimizer=dict(type='Adam', lr=0.2))}))
    optim = ctor(model)
    assert set(optim.keys()) == {'translator.generators.source',
                                 'translator.generators.target'}
    src_params = optim['translator.generators.source'].param_groups[0][
        'params']
    assert src_params[0] is model.translator.generators.source.weight
    with pytest.raises(KeyError, match=r"'missing'.*children are"):
        MultiSubmoduleOptimWrapperConstructor(dict(
            missing=dict(optimizer=dict(type='SGD', lr=0.1))))(model)
    with pytest.raises(ValueError, match='share parameters'):
        MultiSubmoduleOptimWrapperConstructor(dict(
            translator=dict(optimizer=dict(type='SGD', lr=0.1)),
            **{'translator.generators': dict(
                optimizer=dict(type='SGD', lr=0.1))}))(model)
    with pytest.raises(ValueError, match='inside each sub-module'):
        MultiSubmoduleOptimWrapperConstructor(
            dict(translator=dict(optimizer=dict(type='SGD', lr=0.1))),
            paramwise_cfg=dict(bias_lr_mult=2.0))
    with pytest.raises(ValueError, match='optimizer'):
        MultiSubmoduleOptimWrapperConstructor(dict(translator=dict()))
