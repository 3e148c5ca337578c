"""The cuda tier: what users run on GPUs, on a GPU.

Every test here is marked ``cuda`` and skipped (with the reason) where no
CUDA device is visible; the rest of the suite stays on the CPU even on a
GPU machine (tests/conftest.py). Run it alone with
``python -m pytest tests/test_cuda -m cuda`` (tools/analysis/gpu_check.sh
does). Budgets are tiny: the whole tier takes a few minutes on one GPU.

- the demo loop through ``tools/train.py`` at small budgets, fp32 and
  ``--amp`` (float16 and bfloat16);
- AMP checkpoint resume of every phase's loss scalers (float16, CUDA
  GradScaler);
- 1-process NCCL DDP of every phase kind (benchmark_ddp.py);
- the EMA teacher on the GPU;
- ``tools/test.py --tta`` and ``tools/infer.py`` on a phase checkpoint;
- no device sync from mmbdl's code inside any train step
  (``torch.cuda.set_sync_debug_mode``).
"""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import warnings

import pytest
import torch
from bdl_tiny import real_bdl_cfg, write_bdl_data

import mmbdl

pytestmark = pytest.mark.cuda

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PACKAGE = osp.dirname(mmbdl.__file__)
DEMO_ITERS = dict(source_only=20, translation=20, adaptation=20,
                  self_training=20)
ITERS = dict(source_only=2, translation=3, adaptation=2, self_training=2)


def _run(args, timeout=600, **kwargs):
    env = dict(os.environ, OMP_NUM_THREADS='4',
               PYTHONPATH=os.pathsep.join(
                   [REPO] + [p for p in os.environ.get(
                       'PYTHONPATH', '').split(os.pathsep) if p]))
    proc = subprocess.run([sys.executable] + args, cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout,
                          **kwargs)
    assert proc.returncode == 0, (args, proc.stdout[-3000:],
                                  proc.stderr[-3000:])
    return proc


@pytest.fixture(scope='module')
def demo_data():
    """The demo data set in data/demo (kept when complete)."""
    _run(['tools/make_demo_data.py', '--out', 'data/demo'])
    return osp.join(REPO, 'data/demo')


def _demo_options(work_dir):
    opts = [f'train_cfg.phase_iters.{k}={v}' for k, v in DEMO_ITERS.items()]
    return ['--work-dir', work_dir, '--cfg-options', *opts,
            'train_cfg.val_interval=20']


@pytest.fixture(scope='module')
def demo_fp32(demo_data, tmp_path_factory):
    work = str(tmp_path_factory.mktemp('demo_fp32'))
    _run(['tools/train.py', 'configs/bdl/bdl_demo.py', *_demo_options(work)])
    return work


def _rounds(work):
    with open(osp.join(work, 'bdl_rounds.json')) as f:
        return json.load(f)


def _miou_rows(work):
    rows = _rounds(work)
    rows = rows['rows'] if isinstance(rows, dict) else rows
    return [r for r in rows if r.get('mIoU') is not None]


@pytest.mark.parametrize('amp', [None, 'float16', 'bfloat16'])
def test_demo_loop_on_cuda(demo_fp32, tmp_path, amp):
    if amp is None:
        work = demo_fp32
    else:
        work = str(tmp_path / amp)
        _run(['tools/train.py', 'configs/bdl/bdl_demo.py', '--amp',
              '--amp-dtype', amp, *_demo_options(work)])
    rows = _miou_rows(work)
    # M(0), then K=2 rounds of M_0(k) and M_1(k)
    assert len(rows) == 5, rows
    assert all(0 <= r['mIoU'] <= 100 for r in rows), rows
    logs = ''.join(open(osp.join(root, f)).read()
                   for root, _, files in os.walk(work) for f in files
                   if f.endswith('.log'))
    assert 'cuda' in logs.lower()
    if amp is not None:
        assert f'AMP enabled for every optimizer wrapper ({amp}' in logs


def test_amp_checkpoint_resume_on_cuda(tmp_path):
    from mmengine.hooks import Hook
    from mmengine.optim.optimizer.amp_optimizer_wrapper import AmpOptimWrapper
    from mmengine.runner import Runner

    from mmbdl.utils.launch import enable_amp

    class Stop(Exception):
        pass

    class Record(Hook):

        def __init__(self, store):
            self.store = store

        def before_train(self, runner):
            self.store.update({
                name: runner.optim_wrapper[name].loss_scaler.state_dict()
                for name in runner.optim_wrapper.keys()})
            raise Stop

    data_root = write_bdl_data(str(tmp_path / 'data'))

    def cfg_for(work, hooks=()):
        cfg = real_bdl_cfg(data_root, work, num_rounds=1, num_ssl_rounds=1,
                           iters=dict(ITERS), allow_random_init=True)
        enable_amp(cfg)  # float16, CUDA GradScaler
        for phase in cfg['optim_wrapper'].values():
            for wrapper in phase.values():
                if isinstance(wrapper, dict):
                    wrapper['loss_scale'] = dict(init_scale=2.0**8,
                                                 growth_interval=1)
        cfg['custom_hooks'] += list(hooks)
        return cfg

    work = str(tmp_path / 'work')
    runner = Runner(**cfg_for(work))
    runner.train()
    assert next(runner.model.parameters()).is_cuda
    for name, keys in {'iter_4.pth': ('discriminators', 'generators'),
                       'iter_6.pth': ('discriminator', 'segmentor')}.items():
        ckpt = torch.load(osp.join(work, name), map_location='cpu',
                          weights_only=False)
        saved = {k: ckpt['optimizer'][k]['loss_scaler'] for k in keys}
        assert any(s['scale'] != 2.0**8 for s in saved.values()), saved
        copy = str(tmp_path / f'resume_{name}')
        shutil.copytree(work, copy)
        store = {}
        resumed = Runner(**cfg_for(copy, [Record(store)]),
                         load_from=osp.join(copy, name), resume=True)
        with pytest.raises(Stop):
            resumed.train()
        assert store == saved, name
        assert all(isinstance(resumed.optim_wrapper[k], AmpOptimWrapper)
                   for k in keys)


def test_one_process_nccl_ddp_every_kind(tmp_path):
    out = str(tmp_path / 'ddp.json')
    _run(['tools/analysis/benchmark_ddp.py', 'configs/bdl/bdl_demo.py',
          '--nprocs', '1', '--backend', 'nccl', '--device', 'cuda',
          '--iters', '3', '--warmup', '1', '--source-size', '128', '64',
          '--target-size', '128', '64', '--crop', '64', '--kinds',
          'source_only', 'translation', 'adaptation', 'self_training',
          '--json', out])
    with open(out) as f:
        table = json.load(f)['table']['1']
    assert set(table) == {'source_only', 'translation', 'adaptation',
                          'self_training'}
    assert all(row['step_seconds'] > 0 for row in table.values())


def test_ema_teacher_on_cuda(tmp_path):
    from mmengine.runner import Runner

    from mmbdl.utils import unwrap_model
    data_root = write_bdl_data(str(tmp_path / 'data'))
    cfg = real_bdl_cfg(data_root, str(tmp_path / 'work'), num_rounds=1,
                       num_ssl_rounds=1, iters=dict(ITERS),
                       allow_random_init=True, self_training='ema_teacher')
    cfg['train_cfg']['init']['self_training'] = 'continue'
    cfg['model']['segmentor']['type'] = 'EMATeacherSegmentor'
    cfg['model']['segmentor']['ema_cfg'] = dict(pseudo_threshold=0.34)
    cfg['custom_hooks'] = [
        h if h['type'] != 'PseudoLabelHook' else dict(
            type='EMATeacherHook', alpha=0.9) for h in cfg['custom_hooks']]
    runner = Runner(**cfg)
    runner.train()
    seg = unwrap_model(runner.model).segmentor
    teacher = seg.teacher.decode_head.conv_seg.weight
    student = seg.segmentor.decode_head.conv_seg.weight
    assert teacher.is_cuda and student.is_cuda
    assert torch.isfinite(teacher).all()
    assert not torch.equal(teacher, student)  # an EMA, not a copy
    assert float(seg.ema_pixel_stats[1]) > 0


def test_tta_and_infer_on_cuda(demo_fp32, demo_data, tmp_path):
    ckpts = sorted(f for f in os.listdir(demo_fp32)
                   if f.endswith('self_training_i1.pth'))
    assert ckpts, os.listdir(demo_fp32)
    ckpt = osp.join(demo_fp32, ckpts[-1])
    _run(['tools/test.py', 'configs/bdl/bdl_demo.py', ckpt, '--tta',
          '--work-dir', str(tmp_path / 'tta')])
    out = str(tmp_path / 'infer')
    _run(['tools/infer.py', 'configs/bdl/bdl_demo.py', ckpt,
          osp.join(demo_data, 'cityscapes/leftImg8bit/val'), '--out-dir',
          out, '--device', 'cuda'])
    preds = [f for _, _, files in os.walk(osp.join(out, 'pred'))
             for f in files if f.endswith('.png')]
    assert len(preds) == 60


def test_no_device_sync_from_mmbdl_in_train_steps(tmp_path):
    """Every phase kind under ``set_sync_debug_mode('warn')``: the syncs
    that remain come from upstream code (listed in the failure message if
    one is mmbdl's)."""
    import traceback

    from mmengine.runner import Runner

    from mmbdl.models.segmentors.finite_loss_check import DEVICE_INTERVAL
    from mmbdl.utils.host_sync_counter import PhaseSyncCounts
    data_root = write_bdl_data(str(tmp_path / 'data'))
    cfg = real_bdl_cfg(data_root, str(tmp_path / 'work'), num_rounds=1,
                       num_ssl_rounds=1, iters=dict(ITERS),
                       allow_random_init=True)
    cfg['model']['segmentor']['uda_cfg']['check_finite_interval'] = \
        DEVICE_INTERVAL
    runner = Runner(**cfg)
    model = runner.model
    counts = PhaseSyncCounts(model)  # the per-kind wrapper of train_step
    counted = model.train_step
    sites = []
    torch_dir = osp.dirname(torch.__file__)

    def showwarning(message, category, filename, lineno, file=None,
                    line=None):
        if 'synchroniz' not in str(message):
            return
        for frame in reversed(traceback.extract_stack()[:-1]):
            if not frame.filename.startswith(torch_dir) and \
                    'warnings' not in frame.filename:
                sites.append((model.phase, frame.filename, frame.lineno))
                return

    def debug_step(*args, **kwargs):
        torch.cuda.set_sync_debug_mode('warn')
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('always')
                warnings.showwarning = showwarning
                return counted(*args, **kwargs)
        finally:
            torch.cuda.set_sync_debug_mode('default')

    model.train_step = debug_step
    try:
        runner.train()
    finally:
        counts.remove()
    own = [s for s in sites if s[1].startswith(PACKAGE + os.sep)]
    assert not own, own
    print('device syncs inside train_step outside mmbdl:',
          sorted(set(sites))[:20])
