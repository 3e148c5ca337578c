"""configs/_base_/wandb_runtime.py: Weights & Biases next to local files.

wandb is not installed here: without it the first log names the missing
package; with a stand-in ``wandb`` module (recording its calls) a tiny run
logs its losses to both backends.
"""
import os.path as osp
import sys
import textwrap

import pytest
from mmengine.config import Config
from mmengine.runner import Runner
from tiny_seg import tiny_seg_config, write_tiny_seg_dataset

FAKE_WANDB = '''
"""Stand-in for wandb: records the calls MMEngine's backend makes."""
calls = []


class _Config:
    def update(self, values, allow_val_change=False):
        calls.append(('config', dict(values)))


class _Run:
    def log_code(self, name=None):
        calls.append(('log_code', name))


config = _Config()
run = _Run()


def init(**kwargs):
    calls.append(('init', kwargs))


def log(values, commit=True):
    calls.append(('log', dict(values)))


def define_metric(*args, **kwargs):
    calls.append(('define_metric', args, kwargs))


def join():
    calls.append(('join', ))


def Image(image):
    return image
'''


def make_cfg(tmp_path):
    data_root = write_tiny_seg_dataset(str(tmp_path / 'data'), num_val=1)
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text(tiny_seg_config(data_root, max_iters=2,
                                        runtime='wandb_runtime.py'))
    cfg = Config.fromfile(str(cfg_file))
    cfg.work_dir = str(tmp_path / 'work')
    # MMEngine keeps visualizers as named singletons: use a fresh one
    cfg.visualizer.name = f'visualizer_{tmp_path.name}'
    return cfg


def test_config_resolves_and_missing_wandb_is_named(tmp_path, monkeypatch):
    cfg = make_cfg(tmp_path)
    backends = cfg.visualizer.vis_backends
    assert [b['type'] for b in backends] == ['LocalVisBackend',
                                             'WandbVisBackend']
    assert backends[1]['init_kwargs'] == dict(project='mmbdl')
    monkeypatch.setitem(sys.modules, 'wandb', None)  # not importable
    from mmbdl.registry import VISUALIZERS
    cfg.visualizer.save_dir = str(tmp_path / 'vis')
    visualizer = VISUALIZERS.build(cfg.visualizer)
    with pytest.raises(ImportError, match='pip install wandb'):
        visualizer.add_scalars({'loss': 1.0})


@pytest.mark.slow  # a runner run
def test_run_logs_to_wandb_and_local_files(tmp_path, monkeypatch):
    fake_dir = tmp_path / 'fake'
    (fake_dir / 'wandb').mkdir(parents=True)
    (fake_dir / 'wandb' / '__init__.py').write_text(
        textwrap.dedent(FAKE_WANDB))
    monkeypatch.syspath_prepend(str(fake_dir))
    monkeypatch.delitem(sys.modules, 'wandb', raising=False)
    cfg = make_cfg(tmp_path)
    runner = Runner.from_cfg(cfg)
    runner.train()
    import wandb
    assert wandb.__file__.startswith(str(fake_dir))
    kinds = [c[0] for c in wandb.calls]
    init = dict(wandb.calls[kinds.index('init')][1])
    assert init['project'] == 'mmbdl'
    assert init['dir'].startswith(runner.log_dir)
    logged = [c[1] for c in wandb.calls if c[0] == 'log']
    assert sum('decode.loss_ce' in d for d in logged) == 2
    assert any('mIoU' in d for d in logged)  # the val metric too
    scalars = open(osp.join(runner.log_dir, 'vis_data',
                            'scalars.json')).read()
    assert scalars.count('"decode.loss_ce"') == 2
