"""train_cfg.self_training='ema_teacher' through a real Runner (tiny BDL)."""
import inspect
import json
import os.path as osp

import pytest
import torch
from bdl_tiny import real_bdl_cfg, write_bdl_data
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmbdl.engine.runner import BidirectionalTrainLoop
from mmbdl.registry import HOOKS
from mmbdl.utils import unwrap_model

ALPHA = 0.9
ITERS = dict(source_only=2, translation=2, adaptation=2, self_training=3)


@HOOKS.register_module(force=True)
class TeacherRecorderHook(Hook):
    """Teacher / student classifier weights around each iteration."""

    priority = 'LOW'  # after EMATeacherHook (NORMAL)

    def __init__(self) -> None:
        self.before, self.after = {}, {}

    @staticmethod
    def _weights(runner):
        seg = unwrap_model(runner.model).segmentor
        return (seg.teacher.decode_head.conv_seg.weight.detach().clone(),
                seg.segmentor.decode_head.conv_seg.weight.detach().clone(),
                seg.online_self_training)

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.before[runner.iter] = self._weights(runner)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.after[runner.iter] = self._weights(runner)


def ema_cfg(data_root, work_dir, extra_hooks=(), **overrides):
    cfg = real_bdl_cfg(data_root, work_dir, num_rounds=1, num_ssl_rounds=2,
                       iters=dict(ITERS), extra_hooks=list(extra_hooks),
                       self_training='ema_teacher')
    cfg['train_cfg']['init']['self_training'] = 'continue'
    if 'allow_random_init' in inspect.signature(
            BidirectionalTrainLoop.__init__).parameters:
        cfg['train_cfg']['allow_random_init'] = True
    cfg['model']['segmentor']['type'] = 'EMATeacherSegmentor'
    cfg['model']['segmentor']['ema_cfg'] = dict(pseudo_threshold=0.34)
    cfg['custom_hooks'] = [
        h if h['type'] != 'PseudoLabelHook' else dict(
            type='EMATeacherHook', alpha=ALPHA)
        for h in cfg['custom_hooks']
    ]
    for key, value in overrides.items():
        if key == 'model':
            cfg['model']['segmentor'].update(value)
        elif key == 'custom_hooks':
            cfg['custom_hooks'] = value(cfg['custom_hooks'])
        else:
            cfg['train_cfg'][key] = value
    return cfg


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return write_bdl_data(str(tmp_path_factory.mktemp('ema') / 'data'))


@pytest.fixture(scope='module')
def reference(data_root, tmp_path_factory):
    work = str(tmp_path_factory.mktemp('ema_ref') / 'work')
    runner = Runner(**ema_cfg(data_root, work,
                              [dict(type='TeacherRecorderHook')]))
    runner.train()
    weights = {k: v.clone() for k, v in runner.model.state_dict().items()}
    return runner, work, weights


def test_online_rounds_train_and_report_like_offline_ones(reference):
    runner, work, _ = reference
    loop = runner.train_loop
    rows = loop.rows
    assert [r['phase'] for r in rows] == [
        'k0_source_only', 'k1_adaptation', 'k1_self_training_i1',
        'k1_self_training_i2']
    ratios = [r['ssl_pixel_ratio'] for r in rows]
    assert ratios[:2] == [None, None]
    assert all(0.0 < r <= 1.0 for r in ratios[2:])
    # the ratio of the last round is the segmentor's phase statistic
    confident, total = unwrap_model(runner.model).segmentor \
        .ema_pixel_stats.tolist()
    assert ratios[3] == pytest.approx(confident / total)
    # every target pixel of 3 iterations x batch 2 x 32x32 was counted
    assert total == 3 * 2 * 32 * 32
    with open(osp.join(work, 'bdl_rounds.md')) as f:
        assert 'M_2^(1)(F^(1))' in f.read()
    # nothing offline was written
    assert not osp.exists(osp.join(work, 'pseudo_labels'))
    assert osp.isfile(osp.join(work, 'k1_self_training_i2.pth'))


def test_teacher_starts_as_m_and_follows_the_ema(reference):
    runner, _, _ = reference
    rec = next(h for h in runner.hooks
               if type(h).__name__ == 'TeacherRecorderHook')
    first_st = ITERS['source_only'] + ITERS['translation'] + \
        ITERS['adaptation']
    for start in (first_st, first_st + ITERS['self_training']):
        teacher, student, online = rec.before[start]
        assert online and torch.equal(teacher, student)  # copied at start
        for it in range(start, start + ITERS['self_training']):
            prev_teacher = rec.before[it][0]
            teacher, student, _ = rec.after[it]
            torch.testing.assert_close(
                teacher, ALPHA * prev_teacher + (1 - ALPHA) * student)
    # outside the self-training phases the teacher is left alone
    for it in range(first_st):
        assert not rec.before[it][2]
        assert torch.equal(rec.before[it][0], rec.after[it][0])


def test_killed_and_resumed_run_matches_uninterrupted(data_root, reference,
                                                      tmp_path):
    _, ref_work, ref_weights = reference
    work = str(tmp_path / 'work')
    first_st = ITERS['source_only'] + ITERS['translation'] + \
        ITERS['adaptation']
    # killed in the middle of the first, then of the second online round
    for n, at in enumerate((first_st + 2, first_st + 5)):
        with pytest.raises(KeyboardInterrupt):
            Runner(**ema_cfg(data_root, work, [dict(
                type='RaiseAtHook', event='iter', value=at)]),
                resume=n > 0).train()
    runner = Runner(**ema_cfg(data_root, work), resume=True)
    runner.train()
    state = runner.model.state_dict()
    assert any(k.startswith('segmentor.teacher.') for k in state)
    different = [k for k in ref_weights
                 if not torch.equal(ref_weights[k], state[k])]
    assert different == []
    with open(osp.join(ref_work, 'bdl_rounds.json')) as f:
        ref_rows = json.load(f)['rows']
    with open(osp.join(work, 'bdl_rounds.json')) as f:
        rows = json.load(f)['rows']
    assert [r['ssl_pixel_ratio'] for r in rows] == \
        [r['ssl_pixel_ratio'] for r in ref_rows]
    assert [r['mIoU'] for r in rows] == [r['mIoU'] for r in ref_rows]


def _without(name):
    return lambda hooks: [h for h in hooks if h['type'] != name]


def _with_offline(hooks):
    return hooks + [dict(type='PseudoLabelHook', progress=False)]


@pytest.mark.parametrize('overrides, error, message', [
    (dict(model=dict(type='AdvSelfTrainingSegmentor', ema_cfg=None)),
     TypeError, "model.segmentor.type='EMATeacherSegmentor'"),
    (dict(custom_hooks=_without('EMATeacherHook')), ValueError,
     "dict(type='EMATeacherHook')"),
    (dict(custom_hooks=_with_offline), ValueError,
     'remove the PseudoLabelHook'),
    (dict(init=dict(self_training='initial')), ValueError,
     "init.self_training='continue'"),
    (dict(self_training='online'), ValueError, "'offline', 'ema_teacher'"),
])
def test_bad_online_configs(data_root, tmp_path, overrides, error, message):
    cfg = ema_cfg(data_root, str(tmp_path / 'work'), **overrides)
    if cfg['model']['segmentor'].get('ema_cfg', 1) is None:
        cfg['model']['segmentor'].pop('ema_cfg')
    if 'init' in overrides:
        cfg['train_cfg']['init'] = dict(
            translation='continue', adaptation='continue',
            self_training='initial')
    with pytest.raises(error) as err:
        Runner(**cfg).train()
    assert message in str(err.value)


def test_entry_point_refusal_is_one_error_line(tmp_path):
    """tools/train.py prints the refusal as one `error:` line (exit 2)."""
    import subprocess
    import sys
    repo = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
        osp.abspath(__file__)))))
    proc = subprocess.run(
        [sys.executable, osp.join(repo, 'tools', 'train.py'),
         osp.join(repo, 'configs', 'bdl', 'bdl_demo_ema.py'),
         '--work-dir', str(tmp_path / 'work'), '--cfg-options',
         'train_cfg.init.self_training=initial'],
        cwd=str(tmp_path), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('error: ') and \
        "train_cfg.init.self_training='continue'" in last
