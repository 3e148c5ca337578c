"""The rehearsal's FLOP counter: FlopCounterMode's totals, no module hooks."""
import os.path as osp
import sys

import torch
import torch.nn as nn
from torch.nn.modules import module as nn_module
from torch.utils.checkpoint import checkpoint
from torch.utils.flop_counter import FlopCounterMode

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools', 'analysis'))

from rehearsal.flop_count import TotalFlopCounter  # noqa: E402


def _step(model, x):
    h = x
    for block in model:
        h = checkpoint(block, h, use_reentrant=False)
    h.mean().backward()


def _model():
    torch.manual_seed(0)
    return nn.Sequential(*[
        nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
                      nn.Linear(6, 6)) for _ in range(3)
    ])


def test_same_total_as_flop_counter_mode():
    x = torch.randn(2, 4, 6, 6, requires_grad=True)
    model = _model()
    with FlopCounterMode(display=False) as reference:
        _step(model, x)
    with TotalFlopCounter() as lean:
        _step(model, x)
    # forward, recomputed forward and backward of 3 convs + 3 linears
    conv_fwd = 2 * (2 * 4 * 6 * 6) * (4 * 3 * 3)
    assert lean.get_total_flops() == reference.get_total_flops()
    assert lean.get_total_flops() > 3 * 3 * conv_fwd


def test_installs_no_module_hooks():
    hooks = (nn_module._global_forward_hooks,
             nn_module._global_forward_pre_hooks,
             nn_module._global_backward_hooks)
    before = [len(h) for h in hooks]
    with TotalFlopCounter():
        seen = [len(h) for h in hooks]
        _step(_model(), torch.randn(1, 4, 6, 6))
    assert seen == before
    with FlopCounterMode(display=False):
        # the reference attributes FLOPs to modules through global hooks,
        # which is what the lean counter avoids
        assert [len(h) for h in hooks] != before
