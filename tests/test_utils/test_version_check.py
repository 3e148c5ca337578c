"""`import mmbdl` names missing or unsupported dependencies."""
import pytest

from mmbdl import version_check


def test_supported_stack_passes():
    version_check.check_dependencies()


def test_wrong_and_missing_versions_are_named(monkeypatch):
    fake = {'mmcv': '2.2.0', 'mmsegmentation': '', 'torch': '2.9.1',
            'mmengine': '0.10.7', 'mmagic': '1.2.0'}
    monkeypatch.setattr(version_check, '_installed_version',
                        lambda name: fake[name])
    with pytest.raises(ImportError) as info:
        version_check.check_dependencies()
    message = str(info.value)
    assert 'mmcv==2.2.0 is not supported (need >=2.0.0rc4, <2.2.0)' in message
    assert 'install mmcv==2.1.0' in message
    assert 'mmsegmentation is not installed; install mmsegmentation==1.2.2' \
        in message
    # packages in range are not mentioned
    assert 'torch' not in message and 'mmengine' not in message


PINNED = dict(python='3.11.7', torch='2.9.1', numpy='1.26.4')
CURRENT = dict(python='3.12.3', torch='2.11.0+cu130', numpy='2.5.2')


def test_both_stacks_are_recognised():
    assert version_check.matching_stack(PINNED) == 'pinned'
    assert version_check.matching_stack(CURRENT) == 'current'
    assert version_check.matching_stack(
        dict(CURRENT, torch='2.15.0', numpy='2.0.0')) == 'current'
    # the installed environment is one of the two
    assert version_check.matching_stack(
        dict(python=version_check._python_version(),
             torch=version_check._installed_version('torch'),
             numpy=version_check._installed_version('numpy')))


@pytest.mark.parametrize('found', [
    dict(PINNED, numpy='2.1.0'),            # numpy 2 under the 2023 pins
    dict(CURRENT, numpy='1.26.4'),          # numpy 1 under torch 2.11
    dict(CURRENT, python='3.11.7'),         # torch 2.11 on Python 3.11
    dict(PINNED, torch='2.10.0'),           # torch 2.10 with numpy 1
    dict(CURRENT, python='3.13.0'),         # no Python 3.13 stack
    dict(CURRENT, numpy=''),                # numpy missing
])
def test_mixed_stacks_are_refused_in_one_line(monkeypatch, found):
    ok = {'mmcv': '2.1.0', 'mmsegmentation': '1.2.2', 'mmengine': '0.10.7',
          'mmagic': '1.2.0'}
    monkeypatch.setattr(version_check, '_installed_version',
                        lambda name: {**ok, **found}[name])
    monkeypatch.setattr(version_check, '_python_version',
                        lambda: found['python'])
    assert version_check.matching_stack(found) == ''
    with pytest.raises(ImportError) as info:
        version_check.check_dependencies()
    message = str(info.value)
    assert '\n' not in message
    assert (f"python {found['python']}, torch {found['torch']}, "
            f"numpy {found['numpy'] or 'missing'} is no supported stack"
            in message)
    assert ('pinned (python >=3.11,<3.12, torch >=2.0.0,<2.10.0, '
            'numpy >=1.23.0,<2.0.0)') in message
    assert ('current (python >=3.12,<3.13, torch >=2.10.0,<3.0.0, '
            'numpy >=2.0.0,<3.0.0)') in message
    assert '`make env STACK=current`' in message


def test_runtime_requirements_state_the_same_stacks():
    import os.path as osp

    from packaging.requirements import Requirement
    repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    lines = [
        line.split('#', 1)[0].strip()
        for line in open(osp.join(repo, 'requirements', 'runtime.txt'))
    ]
    reqs = [Requirement(line) for line in lines if line]
    for stack, ranges in version_check.STACKS.items():
        env = {'python_version': ranges['python'][0]}
        active = {
            req.name: req.specifier
            for req in reqs if req.marker is None or req.marker.evaluate(env)
        }
        for name in ('torch', 'numpy'):
            low, high = ranges[name]
            spec = active[name]
            assert spec.contains(low) and not spec.contains(high), (stack,
                                                                    name)
        for name, (low, high, _) in version_check.SUPPORTED.items():
            if name != 'torch':
                assert active[name].contains(low, prereleases=True)
                assert not active[name].contains(high), name


def test_entry_point_names_the_stacks_on_a_mixed_environment():
    """tools/train.py stops at ``import mmbdl`` with one ``error:`` line
    naming both stacks when numpy is of the other stack (numpy's metadata
    is faked in the child)."""
    import os.path as osp
    import subprocess
    import sys

    import numpy as np
    repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    other = '2.1.0' if np.lib.NumpyVersion(np.__version__) < '2.0.0' \
        else '1.26.4'
    code = (
        'import importlib.metadata as m, runpy, sys\n'
        'real = m.version\n'
        f'm.version = lambda n: {other!r} if n == "numpy" else real(n)\n'
        'sys.argv = ["tools/train.py", "--help"]\n'
        'runpy.run_path("tools/train.py", run_name="__main__")\n')
    proc = subprocess.run([sys.executable, '-c', code], cwd=repo,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('error: mmbdl cannot start: python ')
    assert f'numpy {other} is no supported stack; supported: pinned (' in last
    assert 'usage' not in proc.stdout
