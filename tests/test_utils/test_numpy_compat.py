"""numpy 2 without ``np.bool8``: ``import mmbdl`` restores the alias that
MMagic 1.2.0 names at import time. numpy 2 is simulated in a child process
(version string 2.x, the deprecated ``bool8`` attribute gone), so the test
runs on both stacks."""
import subprocess
import sys

import numpy as np
import pytest

SIMULATE = '''
import numpy as np
np.__version__ = '2.5.2'
getattr(np, '__deprecated_attrs__', {}).pop('bool8', None)
np.__dict__.pop('bool8', None)
assert not hasattr(np, 'bool8')
'''


def _run(code):
    return subprocess.run([sys.executable, '-c', SIMULATE + code],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # a real Python process
def test_mmagic_imports_after_mmbdl_on_numpy2():
    proc = _run('import mmbdl\nimport mmagic.utils.trans_utils\n'
                'assert np.bool8 is np.bool_\nprint("ok")')
    assert proc.returncode == 0 and 'ok' in proc.stdout, proc.stderr[-2000:]


@pytest.mark.slow  # a real Python process
def test_without_the_alias_mmagic_fails_on_numpy2():
    proc = _run('import mmagic.utils.trans_utils')
    assert proc.returncode != 0
    assert 'bool8' in proc.stderr


def test_numpy1_is_left_alone():
    from mmbdl.numpy_compat import apply_numpy2_aliases
    if np.lib.NumpyVersion(np.__version__) < '2.0.0':
        assert apply_numpy2_aliases() == []
    else:  # numpy 2: added once at import, present afterwards
        assert apply_numpy2_aliases() == [] and np.bool8 is np.bool_
