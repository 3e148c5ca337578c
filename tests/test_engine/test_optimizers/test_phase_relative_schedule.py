"""Phase-relative lr schedules: exact at the release's budgets, valid for
any phase length (tiny budgets swept through every loop config)."""
import glob
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper, OptimWrapperDict

from mmbdl.engine.optimizers.phase_relative_schedule import \
    resolve_phase_relative
from mmbdl.engine.runner.phase_context import PhaseOptimizers
from mmbdl.engine.runner.phase_plan import Phase, lookup
from mmbdl.utils.errors import ConfigCheckError

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
LOOP_CONFIGS = sorted(
    p for p in glob.glob(osp.join(ROOT, 'configs/bdl/*.py'))
    if Config.fromfile(p).train_cfg.get('type') == 'BidirectionalTrainLoop')
KINDS = ('source_only', 'translation', 'adaptation', 'self_training')


def _lrs(cfg, iters, kind='adaptation', base_lr=1.0):
    """lr before each local iteration of a phase of ``iters`` iterations."""
    phase = Phase(0, 1, 0, kind, 'p', 0, iters)
    wrapper = OptimWrapper(torch.optim.SGD(
        [torch.nn.Parameter(torch.zeros(1))], lr=base_lr))
    if isinstance(cfg, dict) and 'type' not in cfg:
        wrapper = OptimWrapperDict(**{
            name: OptimWrapper(torch.optim.SGD(
                [torch.nn.Parameter(torch.zeros(1))], lr=base_lr))
            for name in cfg})
    scheds = PhaseOptimizers.build_schedulers(cfg, wrapper, phase, None)
    if isinstance(scheds, dict):
        scheds = [s for group in scheds.values() for s in group]
        wrappers = list(wrapper.values())
    else:
        wrappers = [wrapper]
    out = []
    for _ in range(iters):
        out.append(wrappers[0].optimizer.param_groups[0]['lr'])
        for s in scheds:
            s.step()
    return out


@pytest.mark.parametrize('fraction,iters,expected', [
    (250000 / 80000, 80000, 250000),   # poly horizon, M(0) / M_0
    (250000 / 120000, 120000, 250000),  # poly horizon, M_i
    (0.5, 124840, 62420),  # CycleGAN decay start, GTA5 (20 x 6242)
    (0.5, 47000, 23500),  # CycleGAN decay start, SYNTHIA (20 x 2350)
    (50000 / 80000, 80000, 50000),  # FCN-8s step
    (50000 / 120000, 120000, 50000),
])
def test_release_budgets_give_the_release_values(fraction, iters, expected):
    cfg = resolve_phase_relative(
        dict(type='X', relative_end=fraction, relative_step_size=fraction),
        iters)
    assert cfg['end'] == cfg['step_size'] == expected
    cfg = resolve_phase_relative(dict(type='X', relative_begin=fraction),
                                 iters)
    assert cfg['begin'] == expected


def test_defaults_and_refusals():
    cfg = resolve_phase_relative(dict(type='LinearLR', relative_begin=0.5), 1)
    assert (cfg['begin'], cfg['end']) == (0, 1)  # end defaults to the phase
    cfg = resolve_phase_relative(dict(type='StepLR', relative_step_size=0.01),
                                 2)
    assert cfg['step_size'] == 1
    with pytest.raises(ConfigCheckError, match='runs from iteration 75'):
        resolve_phase_relative(dict(type='LinearLR', begin=75), 10)
    with pytest.raises(ConfigCheckError, match='sets both end'):
        resolve_phase_relative(dict(type='PolyLR', end=5, relative_end=1), 10)
    with pytest.raises(ConfigCheckError, match='fraction >= 0'):
        resolve_phase_relative(dict(type='PolyLR', relative_end=-1), 10)


def test_paper_schedules_equal_the_absolute_ones():
    """At the release's budgets every value equals the absolute schedule
    the configs had before (250k poly horizon, decay from epoch 10, 50k
    steps), built by the same schedulers."""
    poly = dict(type='PolyLR', eta_min=0.0, power=0.9, by_epoch=False,
                begin=0, end=250000)
    linear = dict(type='LinearLR', start_factor=1.0, end_factor=0.0,
                  by_epoch=False, begin=62420, end=124840)
    step = dict(type='StepLR', gamma=0.1, by_epoch=False, begin=0,
                step_size=50000, end=120000)
    cases = [
        ('bdl_deeplabv2-r101_1xb1-k2n2_gta5-to-cityscapes-1024x512.py',
         [('adaptation', 80000, poly), ('self_training', 120000, poly),
          ('translation', 124840, linear)]),
        ('bdl_fcn8s-vgg16_1xb1-k2n2_synthia-to-cityscapes-1024x512.py',
         [('source_only', 80000, step), ('self_training', 120000, step),
          ('translation', 47000, dict(linear, begin=23500, end=47000))]),
    ]
    for name, kinds in cases:
        cfg = Config.fromfile(osp.join(ROOT, 'configs/bdl', name))
        for kind, length, absolute in kinds:
            assert lookup(cfg.train_cfg.phase_iters, kind) == length
            ours = _lrs(lookup(cfg.param_scheduler, kind), length, kind)
            assert ours == _lrs([absolute], length, kind), (name, kind)


@pytest.mark.parametrize('path', LOOP_CONFIGS,
                         ids=[osp.basename(p) for p in LOOP_CONFIGS])
@pytest.mark.parametrize('budget', [1, 2, 10])
def test_tiny_budgets_work_for_every_loop_config(path, budget):
    cfg = Config.fromfile(path)
    for kind in KINDS:
        sched = lookup(cfg.param_scheduler, kind)
        if sched is None:
            continue
        lrs = _lrs(sched, budget, kind)
        assert len(lrs) == budget
        assert all(math.isfinite(lr) and 0 <= lr <= 1 for lr in lrs)
        # every schedule starts at the base lr, or at a linear warm-up's
        # start factor (SegFormer / DAFormer)
        first = sched[0] if isinstance(sched, (list, tuple)) else sched
        start = first.get('start_factor', 1.0) \
            if first.get('type') == 'LinearLR' else 1.0
        assert lrs[0] == pytest.approx(start)
