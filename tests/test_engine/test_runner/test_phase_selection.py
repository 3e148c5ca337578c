"""Both selection rules in the round table: periodic val within segmentation
phases, best-on-val records and ``<phase>_best.pth``, the headline rule and
``continue_from``; the periodic evaluation leaves training unchanged."""
import json
import logging
import os.path as osp

import pytest
import torch
import torch.nn as nn
from bdl_tiny import real_bdl_cfg, write_bdl_data
from mmengine.runner import Runner

from mmbdl.engine.hooks.round_table_hook import PhaseSelection
from mmbdl.engine.runner.phase_plan import plan_phases

ITERS = dict(source_only=3, translation=2, adaptation=3, self_training=3)


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    """The same seed without and with ``val_interval=1`` (K=2, N=1)."""
    data_root = write_bdl_data(str(tmp_path_factory.mktemp('sel') / 'data'))
    works = {}
    for name, extra in (('plain', {}), ('val', dict(val_interval=1))):
        work = str(tmp_path_factory.mktemp(name) / 'work')
        cfg = real_bdl_cfg(data_root, work, iters=ITERS,
                           allow_random_init=True, **extra)
        cfg['custom_hooks'] = [h for h in cfg['custom_hooks']
                               if h['type'] != 'EventRecorderHook']
        Runner(**cfg).train()
        with open(osp.join(work, 'bdl_rounds.json')) as f:
            works[name] = (work, json.load(f))
    return works


def test_periodic_val_does_not_change_training(runs):
    _, plain = runs['plain']
    _, val = runs['val']
    assert [r['metrics'] for r in val['rows']] == \
        [r['metrics'] for r in plain['rows']]


def test_rows_carry_last_and_best_with_checkpoints(runs):
    work, table = runs['val']
    assert table['selection'] == 'last' and table['val_interval'] == 1
    assert table['report_metric'] == 'mIoU'
    phases = {p.name: p for p in plan_phases(2, 1, True, ITERS)}
    for row in table['rows']:
        phase = phases[row['phase']]
        best = row['best']
        # evaluated after local iterations 1, 2 and at the end (3)
        assert phase.begin + 1 <= best['iter'] <= phase.end
        assert best['value'] >= row['last_value'] == row['mIoU']
        assert row['headline'] == row['mIoU']  # the 'last' rule
        ckpt = torch.load(osp.join(work, f'{phase.name}_best.pth'),
                          map_location='cpu', weights_only=False)
        assert ckpt['meta']['iter'] == best['iter']
        assert 'optimizer' not in ckpt
    md = open(osp.join(work, 'bdl_rounds.md')).read().splitlines()
    assert md[0].startswith('| model |')
    assert '| mIoU (last iter.) | gain | best mIoU on val @ iter |' in md[0]
    # the plain run evaluates at phase ends only: best is there or nowhere
    _, plain = runs['plain']
    for row in plain['rows']:
        assert row['best']['iter'] == phases[row['phase']].end


class _Model(nn.Module):

    def __init__(self):
        super().__init__()
        self.segmentor = nn.Linear(2, 2)


class _Runner:
    """What PhaseSelection uses of a Runner."""

    def __init__(self, work_dir, model):
        self.work_dir = work_dir
        self.model = model
        self.logger = logging.getLogger('test_phase_selection')
        self.saved = []

    def save_checkpoint(self, out_dir, filename, save_optimizer=True,
                        save_param_scheduler=True, meta=None):
        assert not save_optimizer and not save_param_scheduler
        torch.save(dict(meta=meta, state_dict={
            'segmentor.' + k: v.clone()
            for k, v in self.model.segmentor.state_dict().items()
        }), osp.join(out_dir, filename))
        self.saved.append((filename, meta['iter']))


def test_best_rule_and_continue_from_best(tmp_path):
    phase = plan_phases(1, 0, True, dict(source_only=30, translation=1,
                                         adaptation=1))[0]
    model = _Model()
    runner = _Runner(str(tmp_path), model)
    sel = PhaseSelection(10, headline='best', continue_from='best')
    assert [sel.due(phase, i) for i in (0, 10, 20, 30)] == \
        [False, True, True, False]
    values = {10: 40.0, 20: 55.0}
    weights = {}
    for it, value in values.items():
        with torch.no_grad():
            model.segmentor.weight.fill_(it)
        weights[it] = model.segmentor.weight.clone()
        sel.update(runner, phase, dict(mIoU=value), it)
    with torch.no_grad():
        model.segmentor.weight.fill_(30)
    row = sel.finish_row(runner, phase, dict(metrics=dict(mIoU=50.0)))
    # 40 (saved), 55 (new best, saved), 50 at the end (not better)
    assert runner.saved == [('k0_source_only_best.pth', 10),
                            ('k0_source_only_best.pth', 20)]
    assert row['best'] == dict(metric='mIoU', value=55.0, iter=20,
                               checkpoint='k0_source_only_best.pth')
    assert row['last_value'] == 50.0 and row['headline'] == 55.0
    sel.continue_with_best(runner, model, phase)
    assert torch.equal(model.segmentor.weight, weights[20])
    # the records survive a checkpoint round trip
    other = PhaseSelection(10)
    other.load_state_dict(sel.state_dict())
    assert other.best == sel.best


def test_last_rule_keeps_last_weights(tmp_path):
    phase = plan_phases(1, 0, True, dict(source_only=2, translation=1,
                                         adaptation=1))[0]
    model = _Model()
    runner = _Runner(str(tmp_path), model)
    sel = PhaseSelection(1)
    sel.update(runner, phase, dict(mIoU=60.0), 1)
    last = model.segmentor.weight.clone()
    row = sel.finish_row(runner, phase, dict(metrics=dict(mIoU=20.0)))
    assert row['headline'] == 20.0 and row['best']['value'] == 60.0
    sel.continue_with_best(runner, model, phase)
    assert torch.equal(model.segmentor.weight, last)


def test_bad_settings_are_refused(tmp_path):
    with pytest.raises(ValueError, match='train_cfg.headline'):
        PhaseSelection(headline='max')
    with pytest.raises(ValueError, match='train_cfg.continue_from'):
        PhaseSelection(continue_from='first')
    with pytest.raises(ValueError, match='val_interval'):
        PhaseSelection(val_interval=0)
    phase = plan_phases(1, 0, True, dict(source_only=2, translation=1,
                                         adaptation=1))[0]
    sel = PhaseSelection(report_metric='mIoU13')
    with pytest.raises(KeyError, match="'mIoU13' is not among"):
        sel.update(_Runner(str(tmp_path), _Model()), phase,
                   dict(mIoU=1.0), 1)
