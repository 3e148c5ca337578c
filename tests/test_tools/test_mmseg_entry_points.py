"""MMSegmentation's own (packaged) tools drive mmbdl configs unchanged.

An MMSegmentation user runs the ``tools/train.py`` / ``tools/test.py`` that
the mmsegmentation package ships under ``mmseg/.mim/tools`` (also what
``mim train mmsegmentation`` runs). Those scripts call no
``register_all_modules()`` of ours: the configs' ``custom_imports`` and the
registries' lazy locations must be enough.
"""
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
from cli_runner import run_script

# a real process per entry point: make test-quick leaves it out
# (tests/conftest.py, the slow marker)
pytestmark = pytest.mark.slow

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(REPO, 'configs', 'bdl', 'bdl_demo.py')


def mmseg_tool(name: str) -> str:
    import mmseg
    path = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', name)
    assert osp.isfile(path), f'mmsegmentation ships no {path}'
    return path


def run(args, cwd, timeout=900):
    """Run a Python script the way a user does, from ``cwd``."""
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    # this checkout's mmbdl, wherever the package is installed from
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (REPO, env.get('PYTHONPATH')) if p)
    return subprocess.run([sys.executable, *args], cwd=str(cwd), env=env,
                          capture_output=True, text=True, timeout=timeout)


# a BDL run of a few iterations per phase: M(0), F(1), S'(1), M_0(1),
# pseudo-labels, M_1(1), evaluated after every segmentation phase
TINY_LOOP = [
    'train_cfg.num_rounds=1',
    'train_cfg.num_ssl_rounds=1',
    'train_cfg.phase_iters.source_only=2',
    'train_cfg.phase_iters.translation=2',
    'train_cfg.phase_iters.adaptation=2',
    'train_cfg.phase_iters.self_training=2',
    'train_cfg.phase_dataloaders.translation.batch_size=2',
    'train_dataloader.batch_size=2',
    'default_hooks.logger.interval=1',
]


@pytest.fixture(scope='module')
def demo_run(tmp_path_factory):
    """Tiny demo data under <tmp>/data/demo (the config's relative paths),
    then MMSegmentation's packaged train.py on configs/bdl/bdl_demo.py."""
    tmp = tmp_path_factory.mktemp('mmseg_demo')
    # our own tool, in this process (tests/cli_runner.py); MMSegmentation's
    # tools below run in real processes, which is the point here
    run_script('tools/make_demo_data.py', '--out', str(tmp / 'data' / 'demo'),
               '--num-source', '6', '--num-target-train', '4',
               '--num-target-val', '2', cwd=str(tmp))
    work_dir = tmp / 'work'
    proc = run([
        mmseg_tool('train.py'), DEMO, '--work-dir',
        str(work_dir), '--cfg-options', *TINY_LOOP
    ], cwd=tmp)
    return tmp, work_dir, proc


def test_mmseg_train_runs_the_whole_loop(demo_run):
    tmp, work_dir, proc = demo_run
    assert proc.returncode == 0, (proc.stdout[-3000:] + proc.stderr[-5000:])
    for phase in ('k0_source_only', 'k1_translation', 'k1_adaptation',
                  'k1_self_training_i1'):
        assert (work_dir / f'{phase}.pth').is_file(), phase
    # S'(1) and the pseudo-labels were written by the hooks
    assert glob.glob(str(work_dir / 'translated' / 'k1' / '**' / '*.png'),
                     recursive=True)
    assert glob.glob(str(work_dir / 'pseudo_labels' / 'k1_i1' / '**' /
                         '*.png'), recursive=True)
    # the round table has a row per segmentation phase
    rows = json.loads((work_dir / 'bdl_rounds.json').read_text())
    rows = rows['rows'] if isinstance(rows, dict) else rows
    assert len(rows) == 3


def test_mmseg_test_evaluates_the_last_phase_checkpoint(demo_run):
    tmp, work_dir, train = demo_run
    assert train.returncode == 0, train.stderr[-3000:]
    test_dir = tmp / 'test'
    proc = run([
        mmseg_tool('test.py'), DEMO,
        str(work_dir / 'k1_self_training_i1.pth'), '--work-dir',
        str(test_dir)
    ], cwd=tmp)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert 'mIoU' in proc.stdout + proc.stderr
    # MMEngine writes the test metrics as JSON in the run's log folder
    (metrics_file, ) = glob.glob(str(test_dir / '*' / '*.json'))
    metrics = json.loads(open(metrics_file).read().splitlines()[-1])
    miou = metrics['mIoU']
    assert 0.0 <= miou <= 100.0


PAPER_RUNS = [
    ('mmseg/.mim/tools/train.py',
     'bdl_deeplabv2-r101_1xb1-k2n2_gta5-to-cityscapes-1024x512.py'),
    ('mmseg/.mim/tools/train.py',
     'bdl_fcn8s-vgg16_1xb1-k2n2_synthia-to-cityscapes-1024x512.py'),
    # `mim train mmsegmentation CONFIG` runs the same packaged script
    ('mim train mmsegmentation',
     'adv_deeplabv2-r101_1xb1-80k_gta5-to-cityscapes-1024x512.py'),
]


@pytest.mark.parametrize('entry, name', PAPER_RUNS)
def test_mmseg_train_builds_paper_configs_and_stops_at_the_data(
        entry, name, tmp_path):
    """No data sets here: the runner and the full-size model build, then
    the run stops at mmbdl's data root check (not at a registry miss)."""
    cfg = osp.join(REPO, 'configs', 'bdl', name)
    work_dir = tmp_path / 'work'
    if entry.startswith('mim'):
        mim = osp.join(osp.dirname(sys.executable), 'mim')
        assert osp.isfile(mim), 'pip install --no-deps -r requirements/mim.txt'
        proc = run([mim, 'train', 'mmsegmentation', cfg, '--work-dir',
                    str(work_dir)], cwd=tmp_path)
        assert mmseg_tool('train.py') in proc.stdout  # "Training command"
    else:
        proc = run([mmseg_tool('train.py'), cfg, '--work-dir',
                    str(work_dir)], cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert 'is not in the' not in out, out[-3000:]  # no registry miss
    # the Runner (and the model it builds first) was constructed: it
    # dumps the config into the work dir at the end of its __init__
    assert (work_dir / name).is_file(), out[-3000:]
    # mmbdl's MissingFileError is a FileNotFoundError
    errors = [
        ln for ln in out.splitlines()
        if re.match(r'[\w.]*(FileNotFoundError|MissingFileError): ', ln)
    ]
    assert errors and 'data root does not exist' in errors[-1], out[-3000:]


def test_unimportable_custom_import_names_the_module(tmp_path):
    cfg = tmp_path / 'bad_import.py'
    cfg.write_text(f'_base_ = [{DEMO!r}]\n'
                   "custom_imports = dict(imports=['mmbdl', "
                   "'mmbdl_no_such_module'])\n")
    for tool in (osp.join(REPO, 'tools', 'train.py'),
                 mmseg_tool('train.py')):
        proc = run([tool, str(cfg)], cwd=tmp_path)
        assert proc.returncode != 0
        # MMEngine's message lists custom_imports and chains the cause
        assert "No module named 'mmbdl_no_such_module'" in proc.stderr, \
            proc.stderr[-3000:]
        assert 'Failed to import custom modules' in proc.stderr
