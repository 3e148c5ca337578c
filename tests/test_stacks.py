"""The two stacks: STACK in setup_env.sh / make, the C++20 mmcv build of
torch >= 2.10, the CI subset and the device kit's pins."""
import os
import os.path as osp
import re
import subprocess
import tarfile

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

# the flag lines of mmcv 2.1.0's setup.py that torch >= 2.10 cannot build
SETUP_PY = """\
            'nvcc': [cuda_args, '-std=c++14'] if cuda_args else ['-std=c++14'],
            'cxx': ['-std=c++14'],
                extra_compile_args['cxx'] = ['-std=c++17']
            extra_compile_args['cxx'] = ['-Wall', '-std=c++17']
"""

# stands in for the venv's python: `-c` answers the torch version check
# (exit 0: torch >= 2.10), `-m pip download` writes a fake mmcv sdist,
# `-m pip wheel` copies the setup.py it would build into the wheel folder
FAKE_PYTHON = """#!/usr/bin/env bash
echo "$*" >> "$LOG"
if [[ $1 == -c ]]; then exit $TORCH_NEW; fi
args=("$@"); last=${args[-1]}
while [[ $# -gt 0 ]]; do
  case $1 in -d|-w) out=$2; shift ;; esac; shift
done
mkdir -p "$out"
if [[ " ${args[*]} " == *" download "* ]]; then
  cp "$SDIST" "$out"/
elif [[ -d $last ]]; then cp "$last"/setup.py "$out"/built_setup.py
else echo "$last" > "$out"/built_release; fi
"""


def _build(tmp_path, torch_new):
    src = tmp_path / 'mmcv-2.1.0'
    src.mkdir()
    (src / 'setup.py').write_text(SETUP_PY)
    sdist = tmp_path / 'mmcv-2.1.0.tar.gz'
    with tarfile.open(sdist, 'w:gz') as tar:
        tar.add(src, arcname='mmcv-2.1.0')
    python = tmp_path / 'python'
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    out = tmp_path / 'wheels'
    env = dict(os.environ, LOG=str(tmp_path / 'log'), SDIST=str(sdist),
               TORCH_NEW='0' if torch_new else '1')
    proc = subprocess.run(
        ['bash', '-c', f'source scripts/build_mmcv.sh && build_mmcv '
         f'{python} requirements/constraints-current.txt {out}'],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return out, (tmp_path / 'log').read_text()


def test_torch_2_10_builds_mmcv_with_cxx20(tmp_path):
    out, log = _build(tmp_path, torch_new=True)
    built = (out / 'built_setup.py').read_text()
    assert built.count('-std=c++20') == 5
    assert not re.search(r'-std=c\+\+1[47]', built)
    assert 'download' in log and '--no-binary mmcv' in log
    # the source on disk was the one given to pip wheel, not the release
    assert not (out / 'built_release').exists()


def test_older_torch_builds_the_release_as_is(tmp_path):
    out, log = _build(tmp_path, torch_new=False)
    assert (out / 'built_release').read_text().strip() == 'mmcv==2.1.0'
    assert 'download' not in log


def test_unknown_stack_is_refused_in_one_line(tmp_path):
    proc = subprocess.run(
        ['bash', 'scripts/setup_env.sh'], cwd=REPO, capture_output=True,
        text=True, timeout=60,
        env=dict(os.environ, STACK='newest', VENV=str(tmp_path / 'venv')))
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        'error: STACK=newest is not a stack of mmbdl (pinned or current)')
    assert not (tmp_path / 'venv').exists()


def _make_dry(*args):
    proc = subprocess.run(['make', '-n', *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize('stack,venv', [(None, '.venv'),
                                        ('pinned', '.venv'),
                                        ('current', '.venv-current')])
def test_make_takes_the_stack_and_its_venv(stack, venv):
    args = ['test'] + ([f'STACK={stack}'] if stack else [])
    out = _make_dry(*args)
    assert f'VENV={REPO}/{venv} bash scripts/setup_env.sh' in out
    assert f'{REPO}/{venv}/bin/python -m pytest tests ' in out


def test_ci_subset_names_existing_tests_and_ci_runs_both_stacks():
    out = _make_dry('test-subset', 'STACK=current')
    files = re.findall(r'(tests/\S+\.py)', out)
    assert len(files) >= 15
    for name in files:
        assert osp.isfile(osp.join(REPO, name)), name
    assert 'tests/test_models/test_backbones/test_deeplabv2_resnet.py' \
        in files and 'tests/test_tools/test_train_test_tools.py' in files
    ci = open(osp.join(REPO, '.ci', 'run')).read()
    # .ci/run's parts: part NAME COMMAND (timed)
    assert re.search(r'^part "test" make test$', ci, re.M)
    assert re.search(
        r'^part "test-subset \(current\)" make test-subset STACK=current$',
        ci, re.M)


def _pins(name):
    pins = {}
    for line in open(osp.join(REPO, 'requirements', name)):
        match = re.match(r'([A-Za-z0-9_.-]+)(==|<|>=)([^\s#,]+)', line)
        if match:
            pins[match.group(1).lower()] = match.group(2, 3)
    return pins


def test_device_kit_pins_are_the_current_stacks():
    kit, current = _pins('device_kit.txt'), _pins('constraints-current.txt')
    for name in ('mmengine', 'mmsegmentation', 'mmagic', 'diffusers',
                 'transformers'):
        assert kit[name] == current[name] == ('==', kit[name][1]), name
    assert current['huggingface_hub'] == ('<', '0.26')
    assert kit['huggingface_hub'] == ('==', '0.25.2')
    # the kit's mmcv is compiled, never downloaded
    assert 'mmcv' not in kit


def test_too_little_disk_is_refused_before_torch_is_installed(tmp_path):
    # a df that reports 2 GB free: the stack's CUDA torch needs about 9 GB
    fake = tmp_path / 'bin'
    fake.mkdir()
    (fake / 'df').write_text(
        '#!/bin/sh\n'
        'echo "Filesystem 1024-blocks Used Available Capacity Mounted"\n'
        'echo "/dev/x 100000000 97902848 2097152 98% /"\n')
    (fake / 'df').chmod(0o755)
    venv = tmp_path / 'venv'
    proc = subprocess.run(
        ['bash', 'scripts/setup_env.sh'], cwd=REPO, capture_output=True,
        text=True, timeout=120,
        env=dict(os.environ, STACK='pinned', VENV=str(venv),
                 PATH=f'{fake}:{os.environ["PATH"]}'))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (
        f'error: 2 GB free on the disk of {venv}; STACK=pinned needs about '
        '9 GB (torch\'s CUDA build from PyPI): free space there or set VENV '
        'to a larger disk')
    # nothing was installed: the venv has no torch
    assert not list(venv.glob('lib/python3.*/site-packages/torch'))
