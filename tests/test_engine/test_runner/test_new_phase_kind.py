"""A phase kind added by one spec class and one config, nothing else.

``target_finetune`` (test-only, ``tests/tiny_phase_kinds.py``): after the
adaptation phase of every round, M is fine-tuned on the target
pseudo-labels alone (no source term, no D). Its spec declares what it
trains and consumes; the loop, the plan, the optimizer lookup, the real
``PseudoLabelHook``, the dataloader and the round table follow from it.
"""
import json
import os.path as osp

import pytest
import torch
from bdl_tiny import real_bdl_cfg, write_bdl_data
from cli_runner import run_tool
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner
from tiny_phase_kinds import TargetFinetunePhase  # noqa: F401 (registers)

from mmbdl.utils import ConfigCheckError


class PhaseRecorder(Hook):
    """What each iteration's phase trained on and logged."""

    def __init__(self):
        self.data = {}
        self.logs = {}

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        phase = runner.train_loop.current_phase
        dataset = runner.train_loop.dataloader.dataset
        if not phase.is_segmentation:
            return
        self.data.setdefault(phase.name, (dataset.translated_source_dir,
                                          dataset.pseudo_label_dir))

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        phase = runner.train_loop.current_phase
        self.logs.setdefault(phase.name, sorted(outputs))


PLAN = dict(first=['source_only'],
            round=['translation', 'adaptation', 'target_finetune'])


def finetune_cfg(data_root, work_dir, **overrides):
    """The tiny real-module run with ``train_cfg.plan`` naming the kind."""
    cfg = real_bdl_cfg(data_root, work_dir, num_rounds=1,
                       iters=dict(source_only=1, translation=2, adaptation=1,
                                  target_finetune=2))
    train_cfg = cfg['train_cfg']
    for key in ('num_ssl_rounds', 'source_only'):
        train_cfg.pop(key)
    train_cfg['init'] = dict(translation='continue', adaptation='continue')
    train_cfg['plan'] = PLAN
    train_cfg.update(overrides)
    return cfg


def test_new_kind_runs_in_the_loop(tmp_path):
    data_root = write_bdl_data(str(tmp_path / 'data'))
    work = str(tmp_path / 'work')
    runner = Runner(**finetune_cfg(data_root, work))
    recorder = PhaseRecorder()
    runner.register_hook(recorder)
    runner.train()
    loop = runner.train_loop
    assert [p.name for p in loop.phases] == [
        'k0_source_only', 'k1_translation', 'k1_adaptation',
        'k1_target_finetune']
    assert loop.init['target_finetune'] == 'continue'  # the spec's default
    # the real PseudoLabelHook labelled for it (it consumes pseudo-labels)
    labels = osp.join(work, 'pseudo_labels', 'k1_i0')
    assert osp.isfile(osp.join(labels, '.complete.json'))
    translated = osp.join(work, 'translated', 'k1')
    assert recorder.data['k1_adaptation'] == (translated, None)
    # ... and its dataset got the labels, not S' (it does not consume it)
    assert recorder.data['k1_target_finetune'] == (None, labels)
    # its own step ran: target terms only
    assert recorder.logs['k1_target_finetune'] == [
        'loss', 'tgt.decode.acc_seg', 'tgt.decode.loss_ce']
    assert 'src.loss_ce' in recorder.logs['k1_adaptation']
    # the round table row, with the spec's model name and the label ratio
    rows = json.load(open(osp.join(work, 'bdl_rounds.json')))['rows']
    row = [r for r in rows if r['phase'] == 'k1_target_finetune'][0]
    meta = json.load(open(osp.join(labels, '.complete.json')))
    assert row['model'] == 'M_ft^(1)' and row['kind'] == 'target_finetune'
    assert row['ssl_pixel_ratio'] == pytest.approx(
        meta['stats']['kept_ratio'])
    assert osp.isfile(osp.join(work, 'k1_target_finetune.pth'))
    ckpt = torch.load(osp.join(work, 'k1_target_finetune.pth'),
                      map_location='cpu', weights_only=False)
    assert ckpt['meta']['bdl']['artifacts']['pseudo_label_dir'] == labels


def test_plan_refusals(tmp_path):
    data_root = write_bdl_data(str(tmp_path / 'data'))
    cfg = finetune_cfg(data_root, str(tmp_path / 'a'))
    cfg['train_cfg']['num_ssl_rounds'] = 1
    with pytest.raises(ConfigCheckError, match='plan is set'):
        Runner(**cfg).train()
    cfg = finetune_cfg(data_root, str(tmp_path / 'b'),
                       plan=dict(round=['translation', 'no_such_kind']))
    with pytest.raises(ConfigCheckError, match="unknown phase kind "
                       "'no_such_kind'"):
        Runner(**cfg).train()
    cfg = finetune_cfg(data_root, str(tmp_path / 'c'), plan=dict(
        round=['translation', dict(kind='adaptation', repeat=2)]))
    with pytest.raises(ConfigCheckError, match='not numbered'):
        Runner(**cfg).train()


def test_new_kind_through_tools_train(tmp_path):
    """A config file importing the plugin, run by tools/train.py."""
    data_root = write_bdl_data(str(tmp_path / 'data'))
    cfg = finetune_cfg(data_root, str(tmp_path / 'unused'))
    cfg.pop('work_dir')
    cfg['custom_imports'] = dict(imports=['bdl_tiny', 'tiny_phase_kinds'],
                                 allow_failed_imports=False)
    path = str(tmp_path / 'finetune.py')
    Config(cfg).dump(path)
    work = str(tmp_path / 'work')
    # in this process (tests/ is on sys.path, as PYTHONPATH gave the
    # subprocess this ran in before)
    proc = run_tool('tools/train.py', [path, '--work-dir', work])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = json.load(open(osp.join(work, 'bdl_rounds.json')))['rows']
    assert [r['model'] for r in rows] == ['M^(0)', 'M_0^(1)(F^(1))',
                                          'M_ft^(1)']
    assert osp.isfile(osp.join(work, 'pseudo_labels', 'k1_i0',
                               '.complete.json'))
