"""tools/analysis/gpu_check.sh in its CPU dry-run mode, run as on the lent
GPU machine: its Python is a venv interpreter (here a venv made from this
project's venv, which sees the base interpreter's packages, not the
project's: the device's situation), the stack comes from a kit of wheels
installed with ``--target`` into a folder on PYTHONPATH, and nothing is
built. Every step runs or says why not, and at most 4 files come back."""
import base64
import hashlib
import json
import os
import os.path as osp
import subprocess
import sys
import sysconfig
import tarfile
import zipfile

import pytest

# a real process per entry point: make test-quick leaves it out
# (tests/conftest.py, the slow marker)
pytestmark = pytest.mark.slow

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(REPO, 'tools', 'analysis', 'gpu_check.sh')


def _write_wheel(folder, name='mmbdl_kit_probe', version='1.0'):
    """A minimal pure-Python wheel (one module) as a kit stands for."""
    dist = f'{name}-{version}.dist-info'
    files = {
        f'{name}.py': b'KIT = "installed from the kit"\n',
        f'{dist}/METADATA': (f'Metadata-Version: 2.1\nName: {name}\n'
                             f'Version: {version}\n').encode(),
        f'{dist}/WHEEL': (b'Wheel-Version: 1.0\nGenerator: test\n'
                          b'Root-Is-Purelib: true\nTag: py3-none-any\n'),
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(
            hashlib.sha256(data).digest()).rstrip(b'=').decode()
        record.append(f'{path},sha256={digest},{len(data)}')
    record.append(f'{dist}/RECORD,,')
    path = osp.join(folder, f'{name}-{version}-py3-none-any.whl')
    with zipfile.ZipFile(path, 'w') as zf:
        for name_, data in files.items():
            zf.writestr(name_, data)
        zf.writestr(f'{dist}/RECORD', '\n'.join(record) + '\n')
    return path


@pytest.fixture(scope='module')
def standin(tmp_path_factory):
    """A venv interpreter made from this venv's, like the device's python.

    It does not see this venv's packages (only the base interpreter's);
    ``with_stack`` adds them through a .pth, standing for the device's own
    torch, numpy and the rest.
    """
    root = tmp_path_factory.mktemp('standin')
    made = {}
    for name in ('bare', 'with_stack'):
        venv = str(root / name)
        subprocess.run([sys.executable, '-m', 'venv',
                        '--system-site-packages', '--without-pip', venv],
                       check=True, timeout=300)
        py = osp.join(venv, 'bin', 'python')
        if name == 'with_stack':
            site = subprocess.run(
                [py, '-c', 'import sysconfig; '
                 'print(sysconfig.get_paths()["purelib"])'],
                capture_output=True, text=True, check=True).stdout.strip()
            with open(osp.join(site, 'device_stack.pth'), 'w') as f:
                f.write(sysconfig.get_paths()['purelib'] + '\n')
        made[name] = py
    # the stand-in has no pip of its own: the kit is installed with the pip
    # of the interpreter given (here this venv's, through the stand-in's
    # .pth); the bare one cannot even import torch
    return made


def _gpu_check(tmp_path, *args):
    out = tmp_path / 'out'
    proc = subprocess.run(
        ['bash', SCRIPT, '--dry-run', '--out', str(out), *args],
        capture_output=True, text=True, cwd=REPO,
        env=dict(os.environ, OMP_NUM_THREADS='1'), timeout=900)
    return proc, out


def _rows(out):
    return {step: (status, detail) for step, status, detail in json.loads(
        (out / 'gpu_check.json').read_text())['rows']}


def test_dry_run_with_a_venv_interpreter_and_a_kit(tmp_path, standin):
    kit = tmp_path / 'kit'
    kit.mkdir()
    _write_wheel(str(kit))
    proc, out = _gpu_check(tmp_path, '--python', standin['with_stack'],
                           '--kit', str(kit))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = _rows(out)
    status, detail = rows['env']
    assert status == 'ok' and 'kit 1 wheels installed' in detail, detail
    assert 'torch ' in detail and 'numpy ' in detail
    assert rows['ops'][0] == 'skipped' and 'no CUDA op' in rows['ops'][1]
    for step in ('steps-fp32', 'throughput', 'plan'):
        assert rows[step][0] == 'ok', (step, rows[step])
    for step in ('steps-float16', 'steps-bfloat16', 'tier', 'demo',
                 'release'):
        assert rows[step][0] == 'skipped', (step, rows[step])
    assert 'cuda tests collected' in rows['tier'][1]
    # everything that comes back: at most 4 files, logs packed
    assert sorted(os.listdir(out)) == ['gpu.json', 'gpu_check.json',
                                       'gpu_check.md', 'logs.tgz']
    with tarfile.open(out / 'logs.tgz') as tar:
        names = tar.getnames()
    assert 'logs/pip.log' in names and 'logs/steps_fp32.log' in names
    table = (out / 'gpu_check.md').read_text()
    assert table in proc.stdout
    for kind in ('source_only', 'translation', 'adaptation',
                 'self_training'):
        assert f'| {kind} |' in table, kind
    gpu = json.loads((out / 'gpu.json').read_text())
    assert gpu['tflops'] > 0 and set(gpu['step_seconds']) == {
        'source_only', 'translation', 'adaptation', 'self_training'}


def test_interpreter_without_the_stack_is_blocked(tmp_path, standin):
    proc, out = _gpu_check(tmp_path, '--python', standin['bare'],
                           '--only', 'steps')
    assert proc.returncode == 1
    status, detail = _rows(out)['env']
    assert status == 'BLOCKED', detail
    assert 'does not import' in detail and 'pass --kit DIR' in detail
    assert 'steps-fp32' not in _rows(out)  # nothing runs on a broken env


def test_broken_kit_is_blocked_with_the_cause(tmp_path, standin):
    kit = tmp_path / 'kit'
    kit.mkdir()
    (kit / 'broken-1.0-py3-none-any.whl').write_bytes(b'not a zip')
    proc, out = _gpu_check(tmp_path, '--python', standin['with_stack'],
                           '--kit', str(kit), '--only', 'ops')
    assert proc.returncode == 1
    status, detail = _rows(out)['env']
    assert status == 'BLOCKED' and 'pip could not install the kit' in detail
    empty = tmp_path / 'empty'
    empty.mkdir()
    proc, out = _gpu_check(tmp_path, '--kit', str(empty), '--only', 'ops')
    assert proc.returncode == 1
    assert 'no wheels in --kit' in _rows(out)['env'][1]


def test_unknown_argument_is_refused():
    proc = subprocess.run(['bash', SCRIPT, '--bogus'], capture_output=True,
                          text=True, cwd=REPO)
    assert proc.returncode == 2
    assert proc.stderr.startswith('error: unknown argument --bogus')
