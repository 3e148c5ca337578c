"""Refusals read from the arguments come before any expensive set-up: a
missing checkpoint stops tools/pseudo_label.py and tools/translate.py
before the process group, the data set check or a model."""
import pytest
from cli_runner import run_tool

import mmbdl.utils.launch

DEMO = 'configs/bdl/bdl_demo.py'


@pytest.mark.parametrize('tool, extra', [
    ('tools/pseudo_label.py', ['--no-progress']),
    ('tools/translate.py', ['--img-dir', 'nowhere']),
])
def test_missing_checkpoint_is_refused_first(tool, extra, tmp_path,
                                             monkeypatch):

    def setup_tool(*args, **kwargs):
        raise AssertionError('set up before the checkpoint was checked')

    monkeypatch.setattr(mmbdl.utils.launch, 'setup_tool', setup_tool)
    missing = str(tmp_path / 'missing.pth')
    out = tmp_path / 'out'
    result = run_tool(tool, [DEMO, missing, '--out-dir', str(out),
                             '--device', 'cpu', *extra])
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines() == [
        f'error: checkpoint {missing} does not exist (MMBDL_DEBUG=1 shows '
        'the traceback)']
    assert not out.exists()
