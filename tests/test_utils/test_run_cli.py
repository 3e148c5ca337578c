"""run_cli: deliberate user errors in one line, everything else with its
traceback."""
import pytest

from mmbdl.datasets.data_checks import DataCheckError
from mmbdl.utils import (ConfigCheckError, MissingFileError, MMBDLUserError,
                         run_cli)


def _raise(err):
    def main():
        raise err
    return main


@pytest.mark.parametrize('err', [
    ConfigCheckError('train_cfg.x must be set; add it'),
    MissingFileError('data root data/x does not exist; run the converter'),
    DataCheckError('3 images have no label: a.png, b.png, c.png'),
])
def test_user_errors_become_one_line(err, capsys, monkeypatch):
    monkeypatch.delenv('MMBDL_DEBUG', raising=False)
    with pytest.raises(SystemExit) as code:
        run_cli(_raise(err))
    assert code.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f'error: {err} (MMBDL_DEBUG=1 shows the traceback)']


@pytest.mark.parametrize('err', [
    ValueError('a bug deep in the code'), KeyError('missing_key'),
    ImportError('no module named x'), RuntimeError('shape mismatch'),
])
def test_other_errors_keep_their_traceback(err, monkeypatch):
    monkeypatch.delenv('MMBDL_DEBUG', raising=False)
    with pytest.raises(type(err)) as raised:
        run_cli(_raise(err))
    assert raised.value is err


def test_debug_shows_user_errors_with_traceback(monkeypatch):
    monkeypatch.setenv('MMBDL_DEBUG', '1')
    with pytest.raises(ConfigCheckError):
        run_cli(_raise(ConfigCheckError('x')))


def test_project_errors_are_also_builtin_types():
    assert issubclass(ConfigCheckError, (MMBDLUserError, ValueError))
    assert issubclass(MissingFileError, (MMBDLUserError, FileNotFoundError))
