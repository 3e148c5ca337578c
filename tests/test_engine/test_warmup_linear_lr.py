"""The VFM-UDA release's warm-up + linear lr schedule (WarmupLinearLR)."""
import numpy as np
import pytest
import torch
from mmengine.optim import OptimWrapper

from mmbdl.engine.optimizers import WarmupLinearLR, warmup_linear_factor
from mmbdl.engine.runner.phase_context import PhaseOptimizers
from mmbdl.engine.runner.phase_plan import Phase
from mmbdl.registry import PARAM_SCHEDULERS
from mmbdl.utils.errors import ConfigCheckError

WARMUP, TOTAL = 1500, 40000  # the release's warmup_iters and max_steps
CHECKS = (0, 1, 749, 1499, 1500, 20000, 39999, 40000)
# the recipe's head and backbone groups: lr 5e-5 * sqrt(8), x 0.1 for the
# backbone (lr_multiplier)
HEAD_LR = 5e-5 * 8 ** 0.5
BACKBONE_LR = HEAD_LR * 0.1


def release_table(warmup=WARMUP, total=TOTAL, start=1e-3, final=0.0):
    """The release's WarmupAndLinearScheduler table, written out in NumPy."""
    return np.concatenate((np.linspace(start, 1.0, warmup),
                           np.linspace(1.0, final, total + 1)[warmup:]))


def _adamw():
    head = torch.nn.Parameter(torch.zeros(2))
    backbone = torch.nn.Parameter(torch.zeros(3))
    return torch.optim.AdamW([dict(params=[head], lr=HEAD_LR),
                              dict(params=[backbone], lr=BACKBONE_LR)],
                             weight_decay=0.05)


def _run(sched, optim, steps, step=None):
    """Each group's lr used by iterations 0..steps-1 (``step``: what the
    scheduler wraps, the optimizer or its OptimWrapper)."""
    lrs = []
    for _ in range(steps):
        lrs.append([g['lr'] for g in optim.param_groups])
        (step or optim).step()
        sched.step()
    return np.array(lrs)


def test_factor_equals_the_release_table_everywhere():
    table = release_table()
    assert len(table) == TOTAL + 1
    ours = np.array([warmup_linear_factor(i, WARMUP, TOTAL)
                     for i in range(TOTAL + 1)])
    np.testing.assert_array_equal(ours, table)
    # the release's jump after the warm-up (absolute indexing)
    assert ours[WARMUP - 1] == 1.0
    assert ours[WARMUP] == pytest.approx(1 - WARMUP / TOTAL, abs=1e-15)
    assert warmup_linear_factor(TOTAL + 5, WARMUP, TOTAL) == 0.0
    # other shapes
    for warmup, total in ((0, 10), (1, 10), (7, 13), (10, 10)):
        np.testing.assert_array_equal(
            [warmup_linear_factor(i, warmup, total)
             for i in range(total + 1)], release_table(warmup, total))


def test_two_adamw_groups_follow_the_release_rule():
    optim = _adamw()
    sched = PARAM_SCHEDULERS.build(
        dict(type='WarmupLinearLR', start_factor=1e-3, warmup_iters=WARMUP,
             total_iters=TOTAL, by_epoch=False),
        default_args=dict(optimizer=optim))
    assert isinstance(sched, WarmupLinearLR)
    lrs = _run(sched, optim, TOTAL + 1)
    table = release_table()
    for i in CHECKS:
        assert lrs[i][0] == pytest.approx(HEAD_LR * table[i], rel=1e-12,
                                          abs=0), i
        assert lrs[i][1] == pytest.approx(BACKBONE_LR * table[i],
                                          rel=1e-12, abs=0), i
    assert lrs[0][0] == pytest.approx(HEAD_LR * 1e-3)
    assert lrs[40000].tolist() == [0.0, 0.0]
    # the groups keep their ratio throughout (not chained)
    np.testing.assert_allclose(lrs[:-1, 1] / lrs[:-1, 0], 0.1, rtol=1e-12)


def test_length_from_end_like_polylr():
    optim = _adamw()
    sched = WarmupLinearLR(optim, warmup_iters=WARMUP, begin=0, end=TOTAL)
    assert sched.total_iters == TOTAL
    lrs = _run(sched, optim, TOTAL + 1)
    table = release_table()
    np.testing.assert_allclose(lrs[:TOTAL, 0], HEAD_LR * table[:TOTAL],
                               rtol=1e-12, atol=0)
    # at `end` the scheduler stops acting: the last value stays
    assert lrs[TOTAL, 0] == lrs[TOTAL - 1, 0] == pytest.approx(
        HEAD_LR / TOTAL)


def test_counts_from_begin():
    optim = _adamw()
    sched = WarmupLinearLR(optim, warmup_iters=4, begin=5, end=25)
    lrs = _run(sched, optim, 30)
    assert lrs[:5, 0].tolist() == [HEAD_LR] * 5  # untouched before begin
    np.testing.assert_allclose(lrs[5:25, 0],
                               HEAD_LR * release_table(4, 20)[:20],
                               rtol=1e-12, atol=0)
    assert lrs[29, 0] == lrs[24, 0]


@pytest.mark.parametrize('phase_iters', [TOTAL, 10, 1])
def test_inside_a_bdl_phase(phase_iters):
    """Through the BDL loop's scheduler building: end defaults to the phase's
    end and relative_warmup_iters keeps the release's 1500 / 40000."""
    cfg = dict(type='WarmupLinearLR', relative_warmup_iters=WARMUP / TOTAL,
               by_epoch=False)
    phase = Phase(3, 1, 1, 'self_training', 'k1_self_training_i1', 777,
                  phase_iters)
    optim = _adamw()
    wrapper = OptimWrapper(optim)
    (sched, ) = PhaseOptimizers.build_schedulers(cfg, wrapper, phase, None)
    warmup = max(1, round(WARMUP / TOTAL * phase_iters))
    assert (sched.warmup_iters, sched.total_iters) == (warmup, phase_iters)
    lrs = _run(sched, optim, phase_iters, wrapper)
    np.testing.assert_allclose(
        lrs[:, 0], HEAD_LR * release_table(warmup, phase_iters)[:phase_iters],
        rtol=1e-12, atol=0)
    np.testing.assert_allclose(
        lrs[:, 1],
        BACKBONE_LR * release_table(warmup, phase_iters)[:phase_iters],
        rtol=1e-12, atol=0)
    if phase_iters == TOTAL:
        table = release_table()
        for i in CHECKS[:-1]:
            assert lrs[i][0] == pytest.approx(HEAD_LR * table[i], rel=1e-12)


def test_refusals():
    with pytest.raises(ConfigCheckError, match='total_iters or a finite end'):
        WarmupLinearLR(_adamw())
    with pytest.raises(ConfigCheckError, match='warmup_iters must be'):
        WarmupLinearLR(_adamw(), warmup_iters=20, end=10)
    with pytest.raises(ConfigCheckError, match='start_factor'):
        WarmupLinearLR(_adamw(), start_factor=0.0, warmup_iters=5,
                       total_iters=10)
