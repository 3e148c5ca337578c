"""--amp through the BDL loop: every phase autocasts, and the loss-scaler
state of every phase's optimizers is saved in checkpoints and restored on
resume.

There is no GPU here, so MMEngine's ``AmpOptimWrapper`` is patched to accept
the CPU and to scale losses with ``torch.amp.GradScaler('cpu')``. For
bfloat16 its own ``optim_context`` autocasts (MMEngine's CPU autocast allows
only bfloat16); for float16 (``--amp``'s default) a subclass autocasts the
CPU to float16 with ``torch.autocast``. On CUDA the unpatched wrapper does
the same with the CUDA scaler (tests/test_cuda).
"""
import contextlib
import functools
import os.path as osp
import shutil

import pytest
import torch
from bdl_tiny import real_bdl_cfg, write_bdl_data
from cli_runner import run_tool
from mmengine.hooks import Hook
from mmengine.optim import OptimWrapper
from mmengine.optim.optimizer import amp_optimizer_wrapper
from mmengine.runner import Runner

from mmbdl.registry import OPTIM_WRAPPERS
from mmbdl.utils.launch import enable_amp

# phases (global iterations): k0_source_only 1-2, k1_translation 3-5,
# k1_adaptation 6-7, k1_self_training_i1 8-9
ITERS = dict(source_only=2, translation=3, adaptation=2, self_training=2)
KEYS = {
    'iter_1.pth': ('discriminator', 'segmentor'),
    'iter_4.pth': ('discriminators', 'generators'),
    'iter_6.pth': ('discriminator', 'segmentor'),
    'iter_8.pth': ('discriminator', 'segmentor'),
}


@OPTIM_WRAPPERS.register_module(force=True)
class CpuFloat16AmpOptimWrapper(amp_optimizer_wrapper.AmpOptimWrapper):
    """MMEngine's AmpOptimWrapper autocasting the CPU to float16."""

    @contextlib.contextmanager
    def optim_context(self, model):
        with OptimWrapper.optim_context(self, model), \
                torch.autocast('cpu', dtype=self.cast_dtype):
            yield


class StopAtStart(Exception):
    pass


class RecordScalers(Hook):
    """Records the restored scaler states, then stops the resumed run."""

    def __init__(self, store: dict) -> None:
        self.store = store

    def before_train(self, runner) -> None:
        wrappers = runner.optim_wrapper
        self.store.update({
            name: wrappers[name].loss_scaler.state_dict()
            for name in wrappers.keys()
        })
        raise StopAtStart


@pytest.fixture
def cpu_amp(monkeypatch):
    monkeypatch.setattr(amp_optimizer_wrapper, 'is_cuda_available',
                        lambda: True)
    monkeypatch.setattr(amp_optimizer_wrapper, 'GradScaler',
                        functools.partial(torch.amp.GradScaler, 'cpu'))


def amp_cfg(data_root, work_dir, monkeypatch, dtype):
    cfg = real_bdl_cfg(data_root, work_dir, num_rounds=1, num_ssl_rounds=1,
                       iters=dict(ITERS), allow_random_init=True)
    with monkeypatch.context() as m:
        m.setattr(torch.cuda, 'is_available', lambda: True)
        enable_amp(cfg, None if dtype == 'float16' else dtype)
    # the scale doubles after every finite step (and halves after a skipped
    # one): restored != fresh state
    for phase in cfg['optim_wrapper'].values():
        for name, wrapper in phase.items():
            if isinstance(wrapper, dict):
                assert wrapper['type'] == 'AmpOptimWrapper', name
                assert wrapper.get('dtype') == (
                    None if dtype == 'float16' else dtype), name
                if dtype == 'float16':
                    wrapper['type'] = 'CpuFloat16AmpOptimWrapper'
                    wrapper['dtype'] = 'float16'
                wrapper['loss_scale'] = dict(init_scale=2.0**8,
                                             growth_interval=1)
    return cfg


@pytest.mark.parametrize('dtype', ['float16', 'bfloat16'])
def test_amp_in_every_phase_and_scalers_resumed(tmp_path, cpu_amp,
                                                monkeypatch, dtype):
    data_root = write_bdl_data(str(tmp_path / 'data'))
    work = str(tmp_path / 'work')
    runner = Runner(**amp_cfg(data_root, work, monkeypatch, dtype))

    # autocast: the dtype of M's and F's outputs in training steps, by phase
    seen = set()

    def record(module, args, output):
        if module.training and torch.is_tensor(output):
            seen.add((runner.model.phase, output.dtype))

    model = runner.model
    model.segmentor.segmentor.decode_head.conv_seg.register_forward_hook(
        record)
    for generator in model.translator.generators.values():
        generator.register_forward_hook(record)
    runner.train()
    for kind in ('source_only', 'translation', 'adaptation',
                 'self_training'):
        assert (kind, getattr(torch, dtype)) in seen, (kind, seen)

    for name, keys in KEYS.items():
        ckpt = torch.load(osp.join(work, name), map_location='cpu',
                          weights_only=False)
        saved = {k: ckpt['optimizer'][k]['loss_scaler'] for k in keys}
        assert set(ckpt['optimizer']) == set(keys), name
        # the phase's stepping optimizers have changed their scale
        assert any(s['scale'] != 2.0**8 for s in saved.values()), saved

        # resume in a copy of the work dir (it holds the initial weights)
        copy = str(tmp_path / f'resume_{name}')
        shutil.copytree(work, copy)
        store = {}
        cfg = amp_cfg(data_root, copy, monkeypatch, dtype)
        cfg['custom_hooks'].append(RecordScalers(store))
        resumed = Runner(**cfg, load_from=osp.join(copy, name), resume=True)
        with pytest.raises(StopAtStart):
            resumed.train()
        assert set(store) == set(keys), name
        for key in keys:
            assert store[key] == saved[key], (name, key)
            assert isinstance(resumed.optim_wrapper[key],
                              amp_optimizer_wrapper.AmpOptimWrapper)


def test_amp_without_gpu_is_one_error_line(tmp_path):
    if torch.cuda.is_available():
        pytest.skip('this machine has a GPU')
    proc = run_tool('tools/train.py', ['configs/bdl/bdl_demo.py', '--amp',
                                       '--work-dir', str(tmp_path / 'w')])
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines()
              if line.startswith('error:')]
    assert len(errors) == 1 and 'Traceback' not in proc.stderr
    assert errors[0].startswith('error: --amp needs a CUDA GPU'), \
        proc.stderr
    assert not (tmp_path / 'w').exists()
