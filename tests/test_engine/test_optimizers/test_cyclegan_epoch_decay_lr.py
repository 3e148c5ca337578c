"""The release's per-epoch CycleGAN lr decay (LambdaLR) as a scheduler."""
import pytest
import torch
from mmengine.optim import OptimWrapper

from mmbdl.engine.optimizers.cyclegan_epoch_decay_lr import (
    CycleGANEpochDecayLR, release_epoch_factor)
from mmbdl.registry import PARAM_SCHEDULERS


def _release_lambda(epoch, niter=10, niter_decay=10, epoch_count=1):
    # the release's networks.get_scheduler('lambda') rule, written out
    return 1.0 - max(0, epoch + 1 + epoch_count - niter) / float(
        niter_decay + 1)


def test_factor_table_matches_the_release_rule():
    factors = [release_epoch_factor(e) for e in range(20)]
    assert factors == [_release_lambda(e) for e in range(20)]
    assert factors[:9] == [1.0] * 9  # 9 epochs at the full lr
    assert factors[9] == pytest.approx(10 / 11)
    assert factors[18] == pytest.approx(1 / 11)
    assert factors[19] == 0.0  # the last epoch at 0


def test_iteration_based_scheduler_steps_once_per_epoch():
    param = torch.nn.Parameter(torch.zeros(1))
    wrapper = OptimWrapper(torch.optim.Adam([param], lr=2e-4))
    sched = PARAM_SCHEDULERS.build(dict(
        type='CycleGANEpochDecayLR', iters_per_epoch=3),
        default_args=dict(optimizer=wrapper))
    assert isinstance(sched, CycleGANEpochDecayLR)
    lrs = []
    for _ in range(20 * 3):
        lrs.append(wrapper.get_lr()['lr'][0])
        sched.step()
    expected = [2e-4 * _release_lambda(it // 3) for it in range(60)]
    assert lrs == pytest.approx(expected, abs=1e-12)
    # constant within an epoch
    assert lrs[27] == lrs[28] == lrs[29] and lrs[29] != lrs[30]


def test_needs_epoch_length():
    param = torch.nn.Parameter(torch.zeros(1))
    optim = torch.optim.Adam([param], lr=2e-4)
    with pytest.raises(ValueError, match='iters_per_epoch'):
        CycleGANEpochDecayLR(optim)


def test_schedule_base_uses_it():
    import os.path as osp

    from mmengine.config import Config
    root = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
        osp.abspath(__file__)))))
    cfg = Config.fromfile(osp.join(
        root, 'configs/_base_/schedules/cyclegan_20e_release-epoch-decay.py'))
    assert cfg.param_scheduler == [dict(
        type='CycleGANEpochDecayLR', iters_per_epoch=6242, constant_epochs=10,
        decay_epochs=10, epoch_count=1, by_epoch=False)]
    assert cfg.train_cfg.max_iters == 20 * 6242


@pytest.mark.parametrize('phase_iters', [124840, 40, 3])
def test_phase_relative_epoch_length_in_the_bdl_loop(phase_iters):
    """Inside a translation phase of the loop: 1/20 of the phase per epoch,
    so any phase_iters keeps 20 epochs (6242 at the paper budget)."""
    from mmbdl.engine.optimizers.phase_relative_schedule import \
        resolve_phase_relative
    cfg = resolve_phase_relative(
        dict(type='CycleGANEpochDecayLR', relative_iters_per_epoch=1 / 20,
             by_epoch=False), phase_iters)
    assert cfg['iters_per_epoch'] == max(1, round(phase_iters / 20))
    param = torch.nn.Parameter(torch.zeros(1))
    wrapper = OptimWrapper(torch.optim.Adam([param], lr=2e-4))
    sched = PARAM_SCHEDULERS.build(cfg, default_args=dict(optimizer=wrapper))
    lrs = []
    for _ in range(phase_iters):
        lrs.append(wrapper.get_lr()['lr'][0])
        sched.step()
    assert lrs[0] == 2e-4
    if phase_iters == 124840:
        assert lrs[9 * 6242 - 1] == 2e-4
        assert lrs[9 * 6242] == pytest.approx(2e-4 * 10 / 11)
        assert lrs[-1] == 0.0
