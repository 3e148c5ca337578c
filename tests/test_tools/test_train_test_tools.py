"""tools/train.py then tools/test.py on a tiny config, as a user runs them."""
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
from tiny_seg import tiny_seg_config, write_tiny_seg_dataset

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def run_tool(*args, cwd=REPO, env=None, check=True):
    env = dict(os.environ, **(env or {}))
    env.setdefault('OMP_NUM_THREADS', '1')
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(
            f'{args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}')
    return proc


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('train')
    data_root = write_tiny_seg_dataset(str(tmp / 'data'))
    cfg_path = tmp / 'tiny.py'
    cfg_path.write_text(tiny_seg_config(data_root, max_iters=4))
    work_dir = tmp / 'work'
    proc = run_tool('tools/train.py', str(cfg_path), '--work-dir',
                    str(work_dir))
    return cfg_path, work_dir, proc


def test_train_writes_checkpoints_and_logs(trained):
    cfg_path, work_dir, proc = trained
    assert (work_dir / 'iter_2.pth').is_file()
    assert (work_dir / 'iter_4.pth').is_file()
    assert (work_dir / 'last_checkpoint').read_text().strip().endswith(
        'iter_4.pth')
    ckpt = torch.load(work_dir / 'iter_4.pth', map_location='cpu',
                      weights_only=False)
    assert ckpt['meta']['iter'] == 4
    assert any(k.startswith('decode_head.conv_seg') for k in
               ckpt['state_dict'])
    # losses logged for every iteration
    logs = list(work_dir.glob('*/vis_data/scalars.json'))
    assert logs, 'no scalars.json written'
    lines = logs[0].read_text().splitlines()
    assert sum('"decode.loss_ce"' in line for line in lines) == 4


def test_test_tool_reports_metrics(trained, tmp_path):
    cfg_path, work_dir, _ = trained
    out_dir = tmp_path / 'preds'
    show_dir = tmp_path / 'show'
    proc = run_tool('tools/test.py', str(cfg_path),
                    str(work_dir / 'iter_4.pth'), '--work-dir',
                    str(tmp_path / 'test'), '--out', str(out_dir),
                    '--show-dir', str(show_dir))
    text = proc.stdout + proc.stderr
    match = re.search(r'mIoU: ([0-9.]+)', text)
    assert match, text[-3000:]
    assert 0.0 <= float(match.group(1)) <= 100.0
    # the per-class table names every class of the tiny data set
    for name in ('background', 'square', 'stripe'):
        assert re.search(rf'\|\s+{name}\s+\|', text), text[-3000:]
    # --out writes one prediction per val image
    assert sorted(p.name for p in out_dir.glob('*.png')) == ['0.png', '1.png']
    assert len(list(show_dir.rglob('*.png'))) == 2


def test_resume_continues_from_checkpoint(trained, tmp_path):
    cfg_path, work_dir, _ = trained
    # resume from iter_2 and train to 6 iterations in a new work dir
    new_dir = tmp_path / 'resumed'
    proc = run_tool('tools/train.py', str(cfg_path), '--work-dir',
                    str(new_dir), '--resume', str(work_dir / 'iter_2.pth'),
                    '--cfg-options', 'train_cfg.max_iters=6')
    text = proc.stdout + proc.stderr
    assert 'resumed epoch: 0, iter: 2' in text, text[-3000:]
    assert (new_dir / 'iter_6.pth').is_file()
    ckpt = torch.load(new_dir / 'iter_6.pth', map_location='cpu',
                      weights_only=False)
    assert ckpt['meta']['iter'] == 6


def test_missing_config_is_one_clear_line(tmp_path):
    proc = run_tool('tools/train.py', str(tmp_path / 'nope.py'), check=False)
    assert proc.returncode == 2
    assert 'nope.py does not exist' in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_wrong_default_scope_is_refused(tmp_path, trained):
    cfg_path, _, _ = trained
    bad = tmp_path / 'bad.py'
    bad.write_text(f"_base_ = [{str(cfg_path)!r}]\ndefault_scope = 'mmseg'\n")
    proc = run_tool('tools/train.py', str(bad), check=False)
    assert proc.returncode == 2
    assert "default_scope is 'mmseg'" in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_test_tool_missing_checkpoint(tmp_path, trained):
    cfg_path, _, _ = trained
    proc = run_tool('tools/test.py', str(cfg_path),
                    str(tmp_path / 'none.pth'), check=False)
    assert proc.returncode == 2
    assert 'none.pth does not exist' in proc.stderr
