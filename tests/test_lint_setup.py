"""The lint tooling: one set of versions (requirements/lint.txt, installed by
scripts/setup_env.sh, the same in .pre-commit-config.yaml) and a
``make lint`` that fails on a style error and passes clean code."""
import os.path as osp
import re
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def pins():
    text = open(osp.join(REPO, 'requirements', 'lint.txt')).read()
    return dict(re.findall(r'^([\w-]+)==(\S+)', text, flags=re.M))


def test_one_set_of_versions():
    assert pins().keys() == {'flake8', 'isort'}
    hooks = open(osp.join(REPO, '.pre-commit-config.yaml')).read()
    found = dict(re.findall(r'github\.com/PyCQA/(\w+)\n\s+rev: (\S+)',
                            hooks))
    assert found == pins()
    setup = open(osp.join(REPO, 'scripts', 'setup_env.sh')).read()
    assert '-r requirements/lint.txt' in setup


def make_lint(path):
    # the env target is taken as done: this test runs inside the env
    return subprocess.run(
        ['make', '-s', '-o', 'env', 'lint', f'PY={sys.executable}',
         f'LINT_PATHS={path}'], cwd=REPO, capture_output=True, text=True,
        timeout=300)


@pytest.mark.parametrize('tool', ['flake8', 'isort'])
def test_installed_version_is_the_pinned_one(tool):
    module = pytest.importorskip(tool)
    from importlib.metadata import version
    assert version(tool) == pins()[tool], module


def test_make_lint_fails_on_style_errors_and_passes_clean_code(tmp_path):
    pytest.importorskip('flake8')
    pytest.importorskip('isort')
    bad = tmp_path / 'bad.py'
    bad.write_text('import torch\nimport os\n\nx = "' + 'a' * 80 + '"\n'
                   'print(os, torch)\n')
    proc = make_lint(bad)
    assert proc.returncode != 0
    assert 'E501 line too long' in proc.stdout
    assert 'Imports are incorrectly sorted' in proc.stderr + proc.stdout
    good = tmp_path / 'good.py'
    good.write_text('import os\n\nimport torch\n\nfrom mmbdl.utils import '
                    'run_cli\n\nprint(os, torch, run_cli)\n')
    proc = make_lint(good)
    assert proc.returncode == 0, proc.stdout + proc.stderr
