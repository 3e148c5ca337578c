"""The BDL loop through a real MMEngine Runner (K=2, N=1, 32x32 images)."""
import json
import os
import os.path as osp

import pytest
import torch
from bdl_tiny import real_bdl_cfg, toy_bdl_cfg, write_bdl_data
from mmengine.runner import Runner

from mmbdl.engine.runner import plan_phases

EXPECTED_PHASES = [
    'k0_source_only', 'k1_translation', 'k1_adaptation',
    'k1_self_training_i1', 'k2_translation', 'k2_adaptation',
    'k2_self_training_i1'
]


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return write_bdl_data(str(tmp_path_factory.mktemp('bdl') / 'data'))


def _run(data_root, work_dir, kill=None, resume=False, **overrides):
    cfg = real_bdl_cfg(data_root, work_dir,
                       extra_hooks=[kill] if kill else [], **overrides)
    runner = Runner(**cfg, resume=resume)
    runner.train()
    return runner


def _hook(runner, name):
    return next(h for h in runner.hooks if type(h).__name__ == name)


@pytest.fixture(scope='module')
def reference(data_root, tmp_path_factory):
    """One uninterrupted run; its weights and files are shared by tests."""
    work = str(tmp_path_factory.mktemp('ref') / 'work')
    runner = _run(data_root, work)
    weights = {k: v.clone() for k, v in runner.model.state_dict().items()}
    return runner, work, weights


def test_plan_names_and_boundaries():
    phases = plan_phases(2, 2, True, dict(source_only=5, translation=3,
                                          adaptation=4, self_training=6))
    assert [p.name for p in phases] == [
        'k0_source_only', 'k1_translation', 'k1_adaptation',
        'k1_self_training_i1', 'k1_self_training_i2', 'k2_translation',
        'k2_adaptation', 'k2_self_training_i1', 'k2_self_training_i2'
    ]
    assert [p.begin for p in phases] == [0, 5, 8, 12, 18, 24, 27, 31, 37]
    assert phases[-1].end == 43
    assert phases[3].model_name == 'M_1^(1)(F^(1))'
    assert phases[0].model_name == 'M^(0)'
    assert (phases[3].k, phases[3].i, phases[3].kind) == (1, 1,
                                                          'self_training')


def test_per_round_iterations():
    # a translator continuing from the previous round needs fewer
    # iterations later: one budget per round
    phases = plan_phases(2, 1, True, dict(source_only=5, translation=(4, 2),
                                          adaptation=3, self_training=1))
    assert [(p.name, p.iters) for p in phases] == [
        ('k0_source_only', 5), ('k1_translation', 4), ('k1_adaptation', 3),
        ('k1_self_training_i1', 1), ('k2_translation', 2),
        ('k2_adaptation', 3), ('k2_self_training_i1', 1)
    ]
    assert [p.begin for p in phases] == [0, 5, 9, 12, 13, 15, 18]


def test_phase_order_events_outputs_and_table(reference):
    runner, work, _ = reference
    loop = runner.train_loop
    assert [p.name for p in loop.phases] == EXPECTED_PHASES
    assert runner.iter == loop.max_iters == 2 + 2 * (3 + 2 + 2)
    # before/after_phase alternate in plan order, at the phase boundaries
    events = _hook(runner, 'EventRecorderHook').events
    expected = []
    for phase in loop.phases:
        expected.append(('before_phase', phase.name, phase.begin))
        expected.append(('after_phase', phase.name, phase.end))
    assert events == expected
    # phase outputs, each marked complete
    for sub in ('translated/k1', 'translated/k2', 'pseudo_labels/k1_i1',
                'pseudo_labels/k2_i1'):
        assert osp.isfile(osp.join(work, sub, '.complete.json')), sub
    assert len([n for n in __import__('os').listdir(
        osp.join(work, 'translated/k1')) if n.endswith('.png')]) == 4
    # checkpoints named by phase, each with the phase-end iteration
    for phase in loop.phases:
        ckpt = torch.load(osp.join(work, f'{phase.name}.pth'),
                          weights_only=False)
        assert ckpt['meta']['iter'] == phase.end
        assert ckpt['meta']['bdl']['finalised'] == phase.index
    # the table: one row per segmentation phase, in order, with mIoU
    with open(osp.join(work, 'bdl_rounds.json')) as f:
        table = json.load(f)
    models = [r['model'] for r in table['rows']]
    assert models == ['M^(0)', 'M_0^(1)(F^(1))', 'M_1^(1)(F^(1))',
                      'M_0^(2)(F^(2))', 'M_1^(2)(F^(2))']
    for row in table['rows']:
        assert 0 <= row['mIoU'] <= 100
    ratios = [r['ssl_pixel_ratio'] for r in table['rows']]
    assert ratios[0] is None and ratios[1] is None
    assert 0 < ratios[2] <= 1 and 0 < ratios[4] <= 1
    with open(osp.join(work, 'bdl_rounds.md')) as f:
        md = f.read()
    assert md.startswith('| model |') and 'M_1^(2)(F^(2))' in md
    assert len(md.strip().splitlines()) == 2 + 5


def test_perceptual_model_gets_segmentor_weights(reference):
    """F(2) was trained with M_1(1): the end-of-phase checkpoint weights."""
    runner, work, weights = reference
    before = torch.load(osp.join(work, 'k1_self_training_i1.pth'),
                        weights_only=False)['state_dict']
    seg_keys = [k for k in before if k.startswith('segmentor.segmentor.')]
    assert seg_keys
    for key in seg_keys:
        per_key = 'translator.perceptual_model.' + key[len(
            'segmentor.segmentor.'):]
        assert torch.equal(weights[per_key], before[key]), key
    # and the copy is frozen: the segmentor moved on, M did not
    moved = [k for k in seg_keys if not torch.equal(weights[k], before[k])]
    assert moved
    assert not any(p.requires_grad for p in
                   runner.model.translator.perceptual_model.parameters())


def test_init_policies(reference):
    """self_training restarts from the initial weights, adaptation goes on."""
    runner, work, _ = reference
    init = torch.load(osp.join(work, 'bdl_initial_weights.pth'))
    w0 = init['segmentor']['segmentor.decode_head.conv_seg.weight']
    seen = _hook(runner, 'EventRecorderHook').head_weights
    key = 'segmentor.segmentor.decode_head.conv_seg.weight'

    def at_end(name):
        return torch.load(osp.join(work, f'{name}.pth'),
                          weights_only=False)['state_dict'][key]

    assert torch.equal(seen[0], w0)
    # init='continue': M_0(1) starts where M(0) ended (F(1) left M alone)
    assert torch.equal(seen[5], at_end('k0_source_only'))
    assert torch.equal(seen[5], at_end('k1_translation'))
    assert not torch.equal(seen[5], w0)
    # init='initial': each M_i(k) restarts from the initial weights
    assert torch.equal(seen[7], w0)
    assert torch.equal(seen[14], w0)
    assert not torch.equal(at_end('k1_adaptation'), w0)


def test_killed_and_resumed_run_matches_uninterrupted(data_root, reference,
                                                      tmp_path):
    """One run killed four times, resumed after each kill, ends with the
    weights and table of the uninterrupted run (same seed). Kill points:
    mid-phase (translation), between training F(1) and writing S'(1), while
    pseudo-labelling (with the round folder then left half-written), and
    in the last iteration of a self-training phase."""
    _, ref_work, ref_weights = reference
    work = str(tmp_path / 'work')
    kills = [
        dict(type='RaiseAtHook', event='iter', value=4),
        dict(type='RaiseAtHook', event='after_phase', value='k1_translation'),
        dict(type='RaiseAtHook', event='before_phase',
             value='k1_self_training_i1'),
        dict(type='RaiseAtHook', event='iter', value=9),
    ]
    resumed_at = []
    for n, kill in enumerate(kills):
        with pytest.raises(KeyboardInterrupt):
            _run(data_root, work, kill=kill, resume=n > 0)
        with open(osp.join(work, 'last_checkpoint')) as f:
            resumed_at.append(osp.basename(f.read().strip()))
        if kill['event'] == 'before_phase':
            # leave the pseudo-label round half-written: it must be redone
            half = osp.join(work, 'pseudo_labels', 'k1_i1')
            os.remove(osp.join(half, '.complete.json'))
            with open(osp.join(half, '.in_progress.json'), 'w') as f:
                json.dump(dict(format='mmbdl-pseudo-labels'), f)
            for name in os.listdir(half):
                if name.endswith('.png'):
                    open(osp.join(half, name), 'w').close()
                    break
    # where each resume starts: mid-phase, a boundary whose after_phase did
    # not finish (the phase checkpoint is written before the after_phase
    # work, so F(1) is not retrained), a finished boundary (phase
    # checkpoint), mid-phase
    assert resumed_at == ['iter_3.pth', 'k1_translation.pth',
                          'k1_adaptation.pth', 'iter_8.pth']
    runner = _run(data_root, work, resume=True)
    assert runner.iter == runner.train_loop.max_iters
    state = runner.model.state_dict()
    different = [k for k in ref_weights
                 if not torch.equal(ref_weights[k], state[k])]
    assert different == []
    with open(osp.join(ref_work, 'bdl_rounds.json')) as f:
        ref_rows = json.load(f)['rows']
    with open(osp.join(work, 'bdl_rounds.json')) as f:
        rows = json.load(f)['rows']
    assert [r['model'] for r in rows] == [r['model'] for r in ref_rows]
    assert [r['mIoU'] for r in rows] == [r['mIoU'] for r in ref_rows]
    assert [r['ssl_pixel_ratio'] for r in rows] == \
        [r['ssl_pixel_ratio'] for r in ref_rows]
    for name in os.listdir(osp.join(work, 'pseudo_labels', 'k1_i1')):
        if name.endswith('.png'):
            assert osp.getsize(osp.join(work, 'pseudo_labels', 'k1_i1',
                                        name)) > 0


# ----------------------------------------------------------------------
# bad input: clear errors before any training
@pytest.mark.parametrize('overrides, message', [
    (dict(num_rounds=0), 'num_rounds (K) must be an int >= 1'),
    (dict(num_ssl_rounds=0), "phase_iters['self_training'] is set but"),
    (dict(max_iters=100), 'the phases add up to 16'),
    (dict(phase_iters=dict(translation=2, adaptation=2)),
     "no iterations for the 'source_only'"),
    (dict(phase_iters=dict(source_only=2, translation=0, adaptation=2,
                           self_training=2)),
     "phase_iters['translation'] must be an int >= 1"),
    (dict(init=dict(adaptation='fresh')), "must be one of ('continue'"),
    (dict(phase_iters=dict(source_only=2, translation=[2, 2, 2],
                           adaptation=2, self_training=2)),
     "phase_iters['translation'] is a list of per-round iterations but "
     'K=2 rounds, 3 values'),
    (dict(phase_iters=dict(source_only=[2], translation=2, adaptation=2,
                           self_training=2)),
     'but it also runs before the first round'),
    (dict(phase_iters=dict(source_only=2, translation=[0, 2], adaptation=2,
                           self_training=2)),
     "phase_iters['translation'] must be an int >= 1 (or one per round)"),
])
def test_bad_loop_config(overrides, message, data_root, tmp_path):
    cfg = toy_bdl_cfg(data_root, str(tmp_path / 'work'), **overrides)
    runner = Runner(**cfg)
    with pytest.raises(ValueError, match=__import__('re').escape(message)):
        runner.train()
    assert not osp.exists(osp.join(str(tmp_path / 'work'), 'iter_1.pth'))


def test_n_zero_with_pseudo_label_hook_is_refused(data_root, tmp_path):
    cfg = toy_bdl_cfg(data_root, str(tmp_path / 'work'), num_ssl_rounds=0,
                      phase_iters=dict(source_only=1, translation=1,
                                       adaptation=1))
    cfg['custom_hooks'].append(dict(type='PseudoLabelHook'))
    from mmbdl.utils import ConfigCheckError
    with pytest.raises(
            ConfigCheckError,
            match=r'num_ssl_rounds \(N\) is 0 but a PseudoLabelHook'):
        Runner(**cfg).train()


def test_resume_with_another_config_is_refused(data_root, reference,
                                               tmp_path):
    _, ref_work, _ = reference
    import shutil
    work = str(tmp_path / 'work')
    shutil.copytree(ref_work, work)
    cfg = toy_bdl_cfg(data_root, work,
                      phase_iters=dict(source_only=2, translation=4,
                                       adaptation=2, self_training=2))
    runner = Runner(**cfg, resume=True)
    with pytest.raises(ValueError, match='belongs to another BDL config'):
        runner.train()


# ----------------------------------------------------------------------
# skipping the translation of the source set must be explicit
def _without_translation_hook(cfg):
    cfg['custom_hooks'] = [h for h in cfg['custom_hooks']
                           if h['type'] != 'SourceTranslationHook']
    return cfg


def test_missing_translation_hook_is_refused(data_root, tmp_path):
    from mmbdl.utils import ConfigCheckError
    cfg = _without_translation_hook(
        toy_bdl_cfg(data_root, str(tmp_path / 'work')))
    with pytest.raises(ConfigCheckError,
                       match=r'no SourceTranslationHook .*translate_source='
                       'False'):
        Runner(**cfg).train()
    assert not osp.exists(osp.join(str(tmp_path / 'work'), 'iter_1.pth'))


def test_translate_source_false_with_the_hook_is_refused(data_root,
                                                         tmp_path):
    cfg = toy_bdl_cfg(data_root, str(tmp_path / 'work'),
                      translate_source=False)
    with pytest.raises(ValueError, match='translate_source=False but'):
        Runner(**cfg).train()


def test_translate_source_false_trains_on_the_original_images(data_root,
                                                              tmp_path):
    from mmengine.hooks import Hook

    class SourceDirRecorder(Hook):
        """Records the source folder each segmentation phase reads."""

        def __init__(self):
            self.dirs = {}

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            phase = runner.train_loop.current_phase
            if phase.is_segmentation:
                dataset = runner.train_loop.dataloader.dataset
                self.dirs[phase.name] = dataset.translated_source_dir

    cfg = _without_translation_hook(toy_bdl_cfg(
        data_root, str(tmp_path / 'work'), num_rounds=1, num_ssl_rounds=0,
        iters=dict(source_only=1, translation=2, adaptation=1),
        translate_source=False))
    runner = Runner(**cfg)
    recorder = SourceDirRecorder()
    runner.register_hook(recorder)
    runner.train()
    assert recorder.dirs == {'k0_source_only': None, 'k1_adaptation': None}
    assert not osp.exists(osp.join(str(tmp_path / 'work'), 'translated'))


def test_class_name_lookup_errors_propagate():
    """A val set that fails to give its dataloader is not taken for 'no val
    set' (which is ``val_loop is None``)."""
    from mmbdl.engine.hooks.round_table_hook import class_names

    class BrokenValLoop:
        @property
        def dataloader(self):
            raise RuntimeError('val dataloader broken')

    class FakeRunner:
        val_loop = BrokenValLoop()

    with pytest.raises(RuntimeError, match='val dataloader broken'):
        class_names(FakeRunner(), None)

    FakeRunner.val_loop = None
    assert class_names(FakeRunner(), None) == []


# ----------------------------------------------------------------------
# a fresh run owns the derived phase outputs of its work dir
def _log_text(work):
    logs = [osp.join(root, name) for root, _, names in os.walk(work)
            for name in names if name.endswith('.log')]
    return ''.join(open(path).read() for path in logs)


def test_fresh_run_replaces_outputs_of_another_run(data_root, reference,
                                                   tmp_path):
    """A second fresh run (another seed) in a used work dir trains to the
    end: both hooks replace the other run's folders, saying so; no
    checkpoint is deleted."""
    import shutil
    _, ref_work, _ = reference
    work = str(tmp_path / 'work')
    shutil.copytree(ref_work, work)
    for name in os.listdir(work):  # keep only the other run's outputs
        if name.endswith('.log') or osp.isdir(osp.join(work, name)) and \
                name not in ('translated', 'pseudo_labels'):
            shutil.rmtree(osp.join(work, name), ignore_errors=True)
    open(osp.join(work, 'other_run.pth'), 'wb').close()

    def stamp(sub):
        with open(osp.join(work, sub, '.complete.json')) as f:
            meta = json.load(f)
        return meta.get('generator_sha1') or meta['signature']['fingerprint']

    before = {sub: stamp(sub) for sub in ('translated/k1', 'translated/k2',
                                          'pseudo_labels/k1_i1',
                                          'pseudo_labels/k2_i1')}
    cfg = real_bdl_cfg(data_root, work)
    cfg['randomness'] = dict(seed=1)
    runner = Runner(**cfg)
    runner.train()
    assert runner.iter == runner.train_loop.max_iters
    for sub, old in before.items():
        assert stamp(sub) != old, sub  # made by this run
    log = _log_text(work)
    for sub in ('translated/k1', 'translated/k2'):
        assert osp.join(work, sub) in log.split(
            'replacing the translated source images')[1].split('\n')[0]
    for sub in ('pseudo_labels/k1_i1', 'pseudo_labels/k2_i1'):
        assert osp.join(work, sub) in log.split(
            'replacing the pseudo-labels')[1].split('\n')[0]
    assert osp.isfile(osp.join(work, 'other_run.pth'))


def test_keep_previous_refuses_before_training(data_root, reference,
                                               tmp_path):
    import shutil

    from mmbdl.utils import RunStateError
    _, ref_work, _ = reference
    work = str(tmp_path / 'work')
    for sub in ('translated', 'pseudo_labels'):
        shutil.copytree(osp.join(ref_work, sub), osp.join(work, sub))
    for hook_type in ('SourceTranslationHook', 'PseudoLabelHook'):
        cfg = real_bdl_cfg(data_root, work)
        for hook in cfg['custom_hooks']:
            if hook['type'] == hook_type:
                hook['keep_previous'] = True
        # (the translation hook runs first: in the second pass, without
        # keep_previous, it replaces its folders; the pseudo-label hook
        # then refuses)
        with pytest.raises(RunStateError, match=f'{hook_type}: this fresh '
                           r'run would replace .*keep_previous=True'):
            Runner(**cfg).train()
        assert not any(n.startswith('iter_') for n in os.listdir(work))
    # the refused outputs are still there, untouched
    assert osp.isfile(osp.join(work, 'pseudo_labels', 'k1_i1',
                               '.complete.json'))


# ----------------------------------------------------------------------
# schedules: every phase starts at its first lr value and ends at its last
def test_lr_at_the_first_and_last_iteration_of_every_phase(data_root,
                                                           tmp_path):
    """Each phase's schedules count its own iterations from 0: the first
    iteration trains with the base lr (none is skipped, although MMEngine
    warns 'scheduler.step() before optimizer.step()' for the output-space
    discriminator, which M(0) does not train), the last with the
    schedule's final value."""
    from mmengine.hooks import Hook

    class LrRecorder(Hook):
        priority = 'VERY_LOW'

        def __init__(self):
            self.lrs = {}

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            phase = runner.train_loop.current_phase
            self.lrs.setdefault(phase.name, []).append({
                name: wrapper.optimizer.param_groups[0]['lr']
                for name, wrapper in runner.optim_wrapper.items()
            })

    iters = 4
    cfg = real_bdl_cfg(data_root, str(tmp_path / 'work'),
                       iters=dict(source_only=iters, translation=iters,
                                  adaptation=iters, self_training=iters))
    runner = Runner(**cfg)
    recorder = LrRecorder()
    runner.register_hook(recorder)
    runner.train()
    assert list(recorder.lrs) == EXPECTED_PHASES
    base = dict(segmentor=0.01, discriminator=1e-4, generators=2e-4,
                discriminators=2e-4)
    for name, per_iter in recorder.lrs.items():
        assert len(per_iter) == iters, name
        for opt, lr in per_iter[0].items():
            assert lr == pytest.approx(base[opt], rel=1e-12), (name, opt)
        for t, lrs in enumerate(per_iter):
            for opt, lr in lrs.items():
                if 'translation' in name:
                    # LinearLR 1 -> 0 from local iteration 1 (MMEngine:
                    # the end value is reached at the phase's last one)
                    factor = [1.0, 1.0, 0.5, 0.0][t]
                else:
                    # PolyLR, power 0.9, over the phase (MMEngine reaches
                    # eta_min=0 at the last iteration)
                    factor = (1 - t / (iters - 1))**0.9
                assert lr == pytest.approx(base[opt] * factor, abs=1e-15), \
                    (name, t, opt)
