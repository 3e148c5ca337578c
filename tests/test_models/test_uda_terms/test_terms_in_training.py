"""Terms trained end to end by tools/train.py on the demo data: MIC's demo
config and a term from a plugin file (``custom_imports``)."""
import glob
import json
import os.path as osp

import pytest
from cli_runner import run_tool

from mmbdl.datasets.demo import make_demo_data

# whole demo runs through tools/train.py: out of make test-quick
pytestmark = pytest.mark.slow

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
TESTS = osp.join(REPO, 'tests')
# one round of one-iteration phases (two self-training iterations)
TINY = [
    'train_cfg.num_rounds=1', 'train_cfg.source_only=False',
    'train_cfg.phase_iters.translation=1',
    'train_cfg.phase_iters.adaptation=1',
    'train_cfg.phase_iters.self_training=2',
    'default_hooks.logger.interval=1', 'default_hooks.checkpoint.interval=1',
    'train_dataloader.batch_size=1'
]


def train(args, cwd):
    """tools/train.py in this process (tests/cli_runner.py: MMEngine's
    loggers and visualizers of one run do not leak into the next)."""
    result = run_tool('tools/train.py', [str(a) for a in args], cwd=str(cwd))
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.fixture(scope='module')
def demo_cwd(tmp_path_factory):
    cwd = tmp_path_factory.mktemp('terms')
    make_demo_data(str(cwd / 'data' / 'demo'), num_source=4,
                   num_target_train=2, num_target_val=2)
    return cwd


def logged(work_dir):
    """The scalar logs of a run, one dict per logged iteration."""
    files = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    assert files, f'no scalars.json under {work_dir}'
    with open(files[0]) as f:
        return [json.loads(line) for line in f if line.strip()]


def keys_of(rows):
    return set().union(*(set(r) for r in rows))


def test_mic_demo_config_trains(demo_cwd, monkeypatch):
    monkeypatch.chdir(demo_cwd)
    work = str(demo_cwd / 'mic')
    train([osp.join(REPO, 'configs', 'bdl', 'bdl_demo_mic.py'),
           '--work-dir', work, '--cfg-options', *TINY], demo_cwd)
    keys = keys_of(logged(work))
    # MIC and the class-mixed teacher labels trained in self-training
    assert {'mic.loss_ce', 'pseudo.loss_ce', 'ema.pseudo_quality'} <= keys
    assert osp.isfile(osp.join(work, 'k1_self_training_i1.pth'))


def test_plugin_term_from_custom_imports(demo_cwd, monkeypatch):
    monkeypatch.chdir(demo_cwd)
    monkeypatch.syspath_prepend(TESTS)
    work = str(demo_cwd / 'plugin')
    cfg = demo_cwd / 'entropy_demo.py'
    cfg.write_text(
        f"_base_ = [{osp.join(REPO, 'configs', 'bdl', 'bdl_demo.py')!r}]\n"
        "custom_imports = dict(imports=['tiny_loss_term'],\n"
        "                      allow_failed_imports=False)\n"
        "model = dict(segmentor=dict(loss_terms=dict(adaptation=[\n"
        "    'source_ce', 'adversarial',\n"
        "    dict(type='TargetEntropy', weight=0.5)])))\n")
    train([str(cfg), '--work-dir', work, '--cfg-options', *TINY], demo_cwd)
    rows = logged(work)
    with_ent = [r for r in rows if 'ent.loss_ent' in r]
    # the adaptation iteration only (its phase's list names the term)
    assert len(with_ent) == 1
    row = with_ent[0]
    assert 0 < row['ent.loss_ent'] <= 0.5 * 2.95  # 0.5 * log(19) at most
    assert row['loss'] == pytest.approx(
        row['src.loss_ce'] + row['tgt.loss_adv'] + row['ent.loss_ent'],
        rel=1e-3)
