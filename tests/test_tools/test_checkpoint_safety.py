"""Checkpoints that fail safely: atomic writes, a full disk, truncated files
through the tools, no ``*_best.pth`` without a selection."""
import errno
import glob
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from data_fixtures import subprocess_env, write_small_demo

from mmbdl.utils import run_cli
from mmbdl.utils.atomic_write import DiskFullError, atomic_open, atomic_path

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(REPO, 'configs', 'bdl', 'bdl_demo.py')
TINY = [
    'train_cfg.num_rounds=1', 'train_cfg.num_ssl_rounds=1',
    'train_cfg.phase_iters.source_only=1',
    'train_cfg.phase_iters.translation=1',
    'train_cfg.phase_iters.adaptation=1',
    'train_cfg.phase_iters.self_training=1',
    'train_cfg.phase_dataloaders.translation.batch_size=1',
    'train_dataloader.batch_size=1'
]


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    return write_small_demo(tmp_path_factory.mktemp('demo'), 2, 2, 1)


def test_atomic_path_replaces_on_success_and_keeps_old_on_failure(
        tmp_path):
    path = tmp_path / 'a.txt'
    with atomic_open(str(path)) as f:
        f.write('one')
    assert path.read_text() == 'one'
    with pytest.raises(DiskFullError) as err:
        with atomic_path(str(path), what='checkpoint') as tmp:
            with open(tmp, 'w') as f:
                f.write('tw')
            raise OSError(errno.ENOSPC, 'No space left on device')
    assert path.read_text() == 'one'
    assert os.listdir(tmp_path) == ['a.txt']
    assert str(err.value).startswith(
        f'cannot write checkpoint {path}: No space left on device (the '
        'previous one is intact)')
    # any other failure propagates unchanged, and cleans up too
    with pytest.raises(ValueError):
        with atomic_path(str(path)) as tmp:
            open(tmp, 'w').close()
            raise ValueError('bug')
    assert os.listdir(tmp_path) == ['a.txt']


def test_full_disk_at_a_checkpoint_is_one_error_line(demo_root, monkeypatch,
                                                     capsys):
    """tools/train.py with an injected ENOSPC in the first checkpoint
    write: one error line, exit 2, the previous file intact."""
    import mmengine.runner.runner as mm_runner

    from tools.train import main

    def full_disk(checkpoint, filepath, **kwargs):
        with open(filepath, 'wb') as f:
            f.write(b'PK partial')
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(mm_runner, 'save_checkpoint', full_disk)
    monkeypatch.chdir(demo_root)
    work = demo_root / 'work_full'
    work.mkdir()
    previous = work / 'k0_source_only.pth'
    previous.write_bytes(b'previous checkpoint')
    with pytest.raises(SystemExit) as code:
        run_cli(lambda: main([
            DEMO, '--work-dir', str(work), '--cfg-options', *TINY,
            'randomness.seed=0'
        ]))
    assert code.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f'error: cannot write checkpoint {previous}: '
                              'No space left on device (the previous one '
                              'is intact)')
    assert previous.read_bytes() == b'previous checkpoint'
    assert not glob.glob(str(work / '.*.tmp'))
    # the lock was released on the way out
    assert not (work / '.mmbdl_run.lock').exists()


@pytest.mark.parametrize('tool', ['test.py', 'infer.py', 'translate.py'])
def test_truncated_checkpoint_through_the_tools(demo_root, tool, tmp_path):
    path = tmp_path / 'cut.pth'
    torch.save({'state_dict': {'w': torch.ones(4096)}, 'meta': {}},
               str(path))
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 3])
    if tool == 'test.py':
        args = [DEMO, str(path), '--work-dir', str(tmp_path / 'wd')]
    elif tool == 'translate.py':
        args = [DEMO, str(path), '--out-dir', str(tmp_path / 't')]
    else:
        img = next(glob.iglob(str(demo_root / 'data' / 'demo' / '**' /
                                  '*leftImg8bit.png'), recursive=True))
        args = [DEMO, str(path), img, '--out-dir', str(tmp_path / 'o')]
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', tool), *args],
        cwd=str(demo_root), env=subprocess_env(), capture_output=True,
        text=True,
        timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith(f'error: checkpoint {path} cannot be read')
    assert 'truncated or damaged' in lines[-1]
    assert 'Traceback' not in proc.stderr


def test_inferencer_reads_the_checkpoint_once(tmp_path, monkeypatch):
    import mmengine.runner.checkpoint as mm_checkpoint
    from mmengine.config import Config

    from mmbdl.apis.bdl_seg_inferencer import BDLSegInferencer
    from mmbdl.registry import MODELS
    cfg = Config.fromfile(DEMO)
    model = MODELS.build(cfg.model)
    path = tmp_path / 'init.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, str(path))
    reads = []
    original = mm_checkpoint._load_checkpoint

    def counting(filename, *args, **kwargs):
        reads.append(filename)
        return original(filename, *args, **kwargs)

    monkeypatch.setattr(mm_checkpoint, '_load_checkpoint', counting)
    inferencer = BDLSegInferencer(cfg, str(path), device='cpu')
    assert reads == [str(path)]
    weights = inferencer.model.state_dict()
    key = next(iter(weights))
    assert torch.equal(weights[key],
                       model.state_dict()['segmentor.segmentor.' + key])


def test_wrong_architecture_key_dump_goes_to_the_log_file_only(
        demo_root, tmp_path):
    from mmengine.config import Config

    from mmbdl.registry import MODELS
    model = MODELS.build(Config.fromfile(DEMO).model)
    path = tmp_path / 'other.pth'
    torch.save({'state_dict': {f'other_net.{k}': v
                               for k, v in model.state_dict().items()},
                'meta': {}}, str(path))
    work = tmp_path / 'wd'
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'test.py'), DEMO,
         str(path), '--work-dir', str(work)],
        cwd=str(demo_root), env=subprocess_env(), capture_output=True,
        text=True,
        timeout=300)
    console = proc.stdout + proc.stderr
    assert proc.returncode == 2, console[-3000:]
    assert proc.stderr.strip().splitlines()[-1].startswith('error: ')
    assert 'missing keys in source state_dict' not in console
    # no training hook set-up lines in tools/test.py
    assert 'SourceTranslationHook' not in console
    assert 'PseudoLabelHook' not in console
    log = open(glob.glob(str(work / '*' / '*.log'))[0]).read()
    assert 'missing keys in source state_dict' in log
    assert len(console) < len(log)
