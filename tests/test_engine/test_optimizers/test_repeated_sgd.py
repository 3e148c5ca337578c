"""The release's effective optimizer, pinned against PyTorch 0.4.0's SGD.

The reference is a hand-written loop over a duplicated parameter list made
the way the release's ``get_1x_lr_params_NOscale`` makes it (every module
under a top-level child yields all parameters below it), applying PyTorch
0.4.0's per-entry update: in-place weight decay on the gradient, momentum,
parameter step.
"""
import copy
import os.path as osp
from collections import Counter

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config

from mmbdl.engine.optimizers import (ReleaseParamListOptimWrapperConstructor,
                                     RepeatedSGD, release_multiplicity)
from mmbdl.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
LR, MOMENTUM, WD = 0.05, 0.9, 5e-4


class Block(nn.Module):

    def __init__(self, cin, cout, project):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.bn1.requires_grad_(False)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.downsample = nn.Sequential(
            nn.Conv2d(cin, cout, 1, bias=False),
            nn.BatchNorm2d(cout)) if project else None
        if project:
            self.downsample[1].requires_grad_(False)

    def forward(self, x):
        y = self.conv2(torch.relu(self.bn1(self.conv1(x))))
        return torch.relu(y + (x if self.downsample is None
                               else self.downsample(x)))


class Backbone(nn.Module):

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.bn1.requires_grad_(False)
        self.layer1 = nn.Sequential(Block(4, 6, True), Block(6, 6, False))

    def forward(self, x):
        return self.layer1(torch.relu(self.bn1(self.conv1(x))))


class Net(nn.Module):
    """mmbdl's naming: backbone + decode_head (the release's layer5)."""

    def __init__(self):
        super().__init__()
        self.backbone = Backbone()
        self.decode_head = nn.Conv2d(6, 3, 3, padding=1)

    def forward(self, x):
        return self.decode_head(self.backbone(x))


def release_list(backbone):
    """get_1x_lr_params_NOscale of the release, on our toy backbone."""
    for child in (backbone.conv1, backbone.bn1, backbone.layer1):
        for module in child.modules():
            for param in module.parameters():
                if param.requires_grad:
                    yield param


def torch04_sgd_step(groups, state):
    """PyTorch 0.4.0 SGD.step over (possibly duplicated) entries."""
    for group in groups:
        for p in group['params']:
            if p.grad is None:
                continue
            d_p = p.grad.data
            d_p.add_(p.data, alpha=WD)  # in place, as 0.4.0 did
            if id(p) not in state:
                buf = state[id(p)] = torch.zeros_like(p.data)
                buf.mul_(MOMENTUM).add_(d_p)
            else:
                buf = state[id(p)]
                buf.mul_(MOMENTUM).add_(d_p)
            p.data.add_(buf, alpha=-group['lr'])


def loss_of(net, step):
    gen = torch.Generator().manual_seed(step)
    x = torch.randn(2, 3, 6, 6, generator=gen)
    return (net(x) ** 2).mean()


def build_release_optim(net, repeat_modules=('backbone', )):
    constructor = ReleaseParamListOptimWrapperConstructor(
        dict(type='OptimWrapper',
             optimizer=dict(type='RepeatedSGD', lr=LR, momentum=MOMENTUM,
                            weight_decay=WD)),
        dict(custom_keys=dict(decode_head=dict(lr_mult=10.0)),
             repeat_modules=list(repeat_modules)))
    return constructor(net)


def test_multiplicity_from_module_nesting():
    net = Net()
    counts = release_multiplicity(net.backbone)
    names = {id(p): n for n, p in net.backbone.named_parameters()}
    by_name = {names[i]: k for i, k in counts.items()}
    assert by_name == {
        'conv1.weight': 1,
        'layer1.0.conv1.weight': 3,
        'layer1.0.conv2.weight': 3,
        'layer1.0.downsample.0.weight': 4,
        'layer1.1.conv1.weight': 3,
        'layer1.1.conv2.weight': 3,
    }
    assert sum(counts.values()) == len(list(release_list(net.backbone)))


def test_matches_pytorch04_sgd_over_duplicated_list():
    torch.manual_seed(0)
    ours = Net()
    ref = copy.deepcopy(ours)
    ref_groups = [
        dict(params=list(release_list(ref.backbone)), lr=LR),
        dict(params=list(ref.decode_head.parameters()), lr=10 * LR)
    ]
    assert len(ref_groups[0]['params']) == 1 + 4 * 3 + 4  # 17 entries
    ref_state = {}
    wrapper = build_release_optim(ours)
    for step in range(4):
        for p in ref.parameters():
            p.grad = None
        loss_of(ref, step).backward()
        torch04_sgd_step(ref_groups, ref_state)
        wrapper.update_params(loss_of(ours, step))
    for (name, a), b in zip(ours.named_parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7, msg=name)


def test_first_step_is_5_6_times_plain_sgd_for_k3():
    torch.manual_seed(1)
    ours = Net()
    plain = copy.deepcopy(ours)
    start = ours.backbone.layer1[1].conv1.weight.detach().clone()
    wrapper = build_release_optim(ours)
    optim = torch.optim.SGD(plain.parameters(), lr=LR, momentum=MOMENTUM)
    wrapper.update_params(loss_of(ours, 0))
    optim.zero_grad()
    loss_of(plain, 0).backward()
    grad = plain.backbone.layer1[1].conv1.weight.grad.clone()
    # with weight decay 0 the k=3 entries move by lr * g * (1 + 1.9 + 2.71)
    # = 5.61 lr g; with 5e-4 decay, only slightly more
    moved = (start - ours.backbone.layer1[1].conv1.weight.detach())
    ratio = (moved * grad).sum() / (LR * (grad * grad).sum())
    assert abs(ratio.item() - 5.61) < 0.01


def test_no_repeat_modules_is_torch_sgd():
    torch.manual_seed(2)
    ours = Net()
    ref = copy.deepcopy(ours)
    wrapper = build_release_optim(ours, repeat_modules=())
    assert {g['repeat'] for g in wrapper.optimizer.param_groups} == {1}
    optim = torch.optim.SGD(
        [dict(params=ref.backbone.parameters()),
         dict(params=ref.decode_head.parameters(), lr=10 * LR)],
        lr=LR, momentum=MOMENTUM, weight_decay=WD)
    for step in range(3):
        optim.zero_grad()
        loss_of(ref, step).backward()
        optim.step()
        wrapper.update_params(loss_of(ours, step))
    for (name, a), b in zip(ours.named_parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7, msg=name)


def test_real_deeplabv2_r101_list_holds_314_entries_for_104_params():
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/_base_/models/deeplabv2_r101.py'))
    backbone_cfg = dict(cfg.model.backbone, base_channels=2, stem_channels=2,
                        init_cfg=None)
    backbone = MODELS.build(backbone_cfg)
    counts = release_multiplicity(backbone)
    assert len(counts) == 104
    assert sum(counts.values()) == 314
    assert Counter(counts.values()) == {1: 1, 3: 99, 4: 4}


def test_schedule_base_builds_release_optimizer():
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/_base_/schedules/'
                 'deeplabv2_sgd-poly-250k_80k.py'))

    class Model(nn.Module):

        def __init__(self):
            super().__init__()
            self.segmentor = Net()
            self.discriminator = nn.Conv2d(3, 1, 1)

    wrappers = OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(type=cfg.optim_wrapper.constructor,
             optim_wrapper_cfg={k: v for k, v in cfg.optim_wrapper.items()
                                if k != 'constructor'}))(Model())
    optim = wrappers['segmentor'].optimizer
    assert isinstance(optim, RepeatedSGD)
    repeats = Counter(g['repeat'] for g in optim.param_groups)
    assert repeats == {1: 3, 3: 4, 4: 1}  # conv1 + head weight/bias; ...
    head = [g for g in optim.param_groups if g['lr'] == pytest.approx(2.5e-3)]
    assert len(head) == 2 and all(g['repeat'] == 1 for g in head)
