"""Deliberate user errors are one ``error:`` line with exit code 2 through
tools/train.py and tools/test.py; bugs keep their tracebacks."""
import os
import os.path as osp
import subprocess
import sys

import pytest

from mmbdl.utils import run_cli
from mmbdl.utils.config_names import (check_loop_keys, close_names,
                                      unknown_type_error)
from mmbdl.utils.errors import ConfigCheckError, MMBDLUserError

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(REPO, 'configs', 'bdl', 'bdl_demo.py')


def _tool(tool, *args, cwd):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (REPO, env.get('PYTHONPATH')) if p)
    return subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', tool), *args],
        cwd=str(cwd), env=env, capture_output=True, text=True, timeout=300)


def _one_line(proc) -> str:
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr[-3000:]
    assert lines[0].startswith('error: ')
    return lines[0]


def test_top_level_train_cfg_typo(tmp_path):
    line = _one_line(_tool('train.py', DEMO, '--work-dir',
                           str(tmp_path / 'wd'), '--cfg-options',
                           'train_cfg.num_round=1', cwd=tmp_path))
    assert line.startswith(
        'error: unknown key train_cfg.num_round (did you mean '
        'train_cfg.num_rounds?) for BidirectionalTrainLoop; valid keys: ')


@pytest.mark.parametrize('tool', ['train.py', 'test.py'])
def test_unknown_model_type(tmp_path, tool):
    (tmp_path / 'ckpt.pth').write_bytes(b'never read')
    args = [DEMO] + (['ckpt.pth'] if tool == 'test.py' else []) + [
        '--work-dir', str(tmp_path / 'wd'), '--cfg-options', 'model.type=BLD'
    ]
    line = _one_line(_tool(tool, *args, cwd=tmp_path))
    assert line.startswith("error: type 'BLD' is not in the model registry "
                           '(did you mean BDL')


def test_unknown_type_error_only_for_registry_messages():
    err = unknown_type_error(KeyError(
        'class `BDL` in mmbdl/models/algorithms/bdl.py: FCDiscriminatr is '
        'not in the mmbdl::model registry. Please check whether the value '
        'of `FCDiscriminatr` is correct or it was registered as expected.'))
    assert isinstance(err, ConfigCheckError)
    assert 'FCDiscriminator' in str(err)
    assert unknown_type_error(KeyError('weight')) is None


def test_a_plain_key_error_keeps_its_traceback():

    def bug():
        return {}['missing']

    with pytest.raises(KeyError, match='missing'):
        run_cli(bug)


def test_check_loop_keys_and_close_names():

    class Loop:

        def __init__(self, runner, dataloader, num_rounds=2,
                     phase_iters=None):
            pass

    check_loop_keys(dict(type='Loop', num_rounds=1), Loop)
    with pytest.raises(ConfigCheckError,
                       match=r'train_cfg.phase_iter \(did you mean '
                       r'train_cfg.phase_iters\?\)'):
        check_loop_keys(dict(type='Loop', phase_iter=1), Loop)
    assert close_names('bdl', ['BDL', 'Other']) == ['BDL']


def test_every_project_error_class_derives_from_the_one_base():
    from mmbdl.datasets.converters import ConversionError
    from mmbdl.datasets.data_checks import DataCheckError
    from mmbdl.engine.pseudo_labeling.label_files import PseudoLabelDirError
    from mmbdl.utils.atomic_write import DiskFullError
    from mmbdl.utils.weights import (CheckpointRefusedError,
                                     UnreadableCheckpointError)
    from mmbdl.utils.work_dir_lock import (WorkDirLockedError,
                                           WorkDirNotWritableError)
    for cls in (ConversionError, DataCheckError, PseudoLabelDirError,
                DiskFullError, CheckpointRefusedError,
                UnreadableCheckpointError, WorkDirLockedError,
                WorkDirNotWritableError):
        assert issubclass(cls, MMBDLUserError), cls
