"""tools/analysis: every script runs as ``python tools/analysis/X.py``;
the code they share lives in packages (no script imports another), and
the release comparison takes its parity verdict from the fp32 variant."""
import ast
import glob
import os
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ANALYSIS = osp.join(REPO, 'tools', 'analysis')
SCRIPTS = sorted(osp.basename(p)
                 for p in glob.glob(osp.join(ANALYSIS, '*.py')))
PACKAGES = sorted(osp.basename(osp.dirname(p)) for p in glob.glob(
    osp.join(ANALYSIS, '*', '__init__.py')))
sys.path.insert(0, ANALYSIS)

from benchmarking.release_comparison import parity_verdict  # noqa: E402


def imported_modules(path):
    """Top-level names of every module a file imports (absolute imports)."""
    tree = ast.parse(open(path).read())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split('.')[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split('.')[0])
    return names


def test_layout():
    assert {'ablation.py', 'multi_seed.py', 'benchmark_segmentor.py',
            'rehearse.py'} <= set(SCRIPTS)
    assert {'benchmarking', 'rehearsal', 'seed_sets'} <= set(PACKAGES)


@pytest.mark.parametrize('script', SCRIPTS)
def test_scripts_import_packages_not_scripts(script):
    path = osp.join(ANALYSIS, script)
    scripts = {osp.splitext(s)[0] for s in SCRIPTS}
    assert not imported_modules(path) & scripts
    text = open(path).read()
    # only the repository root (for mmbdl) may be put on sys.path
    assert 'sys.path.insert(0, osp.dirname(osp.abspath(__file__)))' \
        not in text


@pytest.mark.parametrize('package', PACKAGES)
def test_packages_import_no_script(package):
    scripts = {osp.splitext(s)[0] for s in SCRIPTS}
    for path in glob.glob(osp.join(ANALYSIS, package, '*.py')):
        assert not imported_modules(path) & scripts, path
        assert 'sys.path.insert' not in open(path).read(), path


@pytest.mark.parametrize('script', SCRIPTS)
def test_script_runs_from_the_repository_root(script):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env.pop('PYTHONPATH', None)  # as a user runs it from a checkout
    proc = subprocess.run(
        [sys.executable, osp.join('tools', 'analysis', script), '--help'],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith('usage:'), proc.stdout[:500]


def test_parity_comes_from_the_fp32_variant():
    # the figures of docs/full_scale.md: bf16 is fastest, fp32 decides
    line = parity_verdict({'mmbdl fp32': 16.19, 'mmbdl channels_last':
                           14.34, 'mmbdl bf16': 7.46, 'release': 15.98})
    assert line.startswith('mmbdl fp32 / release: 1.01x (parity;')
    assert 'other variants (not parity): channels_last 0.90x, bf16 0.47x' \
        in line
    # a slow fp32 step is not made parity by a fast bf16 one
    line = parity_verdict({'mmbdl fp32': 2.0, 'mmbdl bf16': 0.5,
                           'release': 1.0})
    assert line.startswith('mmbdl fp32 / release: 2.00x (slower;')
    line = parity_verdict({'mmbdl bf16': 0.5, 'release': 1.0})
    assert line.startswith('no parity verdict: the fp32 variant was not '
                           'timed')
    assert 'bf16 0.50x' in line
