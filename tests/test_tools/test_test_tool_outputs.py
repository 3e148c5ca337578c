"""tools/test.py --out / --format-only / --tta, as a user runs them."""
import glob
import json
import os.path as osp

import numpy as np
import pytest
import torch
from cli_runner import run_script
from PIL import Image
from tiny_seg import tiny_seg_config, write_tiny_seg_dataset

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# a 19-class BDLEncoderDecoder (BDL's evaluation rule) on the tiny data set,
# evaluated with BDLIoUMetric, with a flip + two-scale TTA pipeline
EXTRA = '''
model.update(type='BDLEncoderDecoder', resize_probs=True)
model['decode_head'].update(num_classes=19, align_corners=True)
test_evaluator = dict(type='BDLIoUMetric', num_classes=19)
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', scale_factor=r, keep_ratio=True)
         for r in (0.75, 1.0)],
        [dict(type='RandomFlip', prob=0., direction='horizontal'),
         dict(type='RandomFlip', prob=1., direction='horizontal')],
        [dict(type='LoadAnnotations')],
        [dict(type='PackSegInputs')]])
]
tta_model = dict(type='BDLSegTTAModel')
'''


def run_tool(*args, check=True):
    """``python ARGS`` in this process (tests/cli_runner.py)."""
    return run_script(*args, cwd=str(REPO), check=check)


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    from mmengine.config import Config

    from mmbdl.registry import MODELS
    tmp = tmp_path_factory.mktemp('test_tool')
    data_root = write_tiny_seg_dataset(str(tmp / 'data'), num_train=1,
                                       num_val=3)
    cfg_path = tmp / 'tiny.py'
    cfg_path.write_text(tiny_seg_config(data_root, extra=EXTRA))
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(cfg_path)).model)
    ckpt = tmp / 'model.pth'
    torch.save(dict(state_dict=model.state_dict(), meta={}), ckpt)
    return cfg_path, ckpt, tmp


def full_log(proc, work_dir):
    """Console output and the run's log file (the console may be quiet)."""
    logs = sorted(glob.glob(osp.join(str(work_dir), '*', '*.log')))
    text = proc.stdout + proc.stderr
    return text + ''.join(open(log).read() for log in logs)


def miou(work_dir):
    """mIoU of the test run, from the metrics JSON MMEngine writes."""
    files = sorted(glob.glob(osp.join(str(work_dir), '*', '*.json')))
    assert files, f'no metrics file in {work_dir}'
    with open(files[-1]) as f:
        metrics = json.loads(f.read().splitlines()[-1])
    return metrics['mIoU']


def test_out_train_ids_and_format_only_label_ids(setup, tmp_path):
    cfg_path, ckpt, _ = setup
    out = tmp_path / 'train_ids'
    proc = run_tool('tools/test.py', str(cfg_path), str(ckpt),
                    '--work-dir', str(tmp_path / 'w1'), '--out', str(out))
    assert 0 <= miou(tmp_path / 'w1') <= 100
    files = sorted(p.name for p in out.iterdir())
    assert files == ['0.png', '1.png', '2.png']
    train_ids = {n: np.array(Image.open(out / n)) for n in files}
    for arr in train_ids.values():
        assert arr.shape == (32, 32) and arr.max() < 19

    server = tmp_path / 'server'
    proc = run_tool('tools/test.py', str(cfg_path), str(ckpt),
                    '--work-dir', str(tmp_path / 'w2'), '--out', str(server),
                    '--format-only')
    text = full_log(proc, tmp_path / 'w2')
    assert 'mIoU:' not in text and 'no evaluation (format_only)' in text
    from mmbdl.evaluation.prediction_writer import trainid_to_cityscapes_id_lut
    lut = trainid_to_cityscapes_id_lut()
    assert sorted(p.name for p in server.iterdir()) == files
    for name in files:
        label_ids = np.array(Image.open(server / name))
        np.testing.assert_array_equal(label_ids, lut[train_ids[name]])
        assert set(np.unique(label_ids)) <= set(range(7, 34))


def test_format_only_needs_no_labels(setup, tmp_path):
    cfg_path, ckpt, tmp = setup
    # a copy of the data set whose val labels are gone (like Cityscapes test)
    import shutil
    root = tmp_path / 'nolabels'
    shutil.copytree(tmp / 'data', root)
    shutil.rmtree(root / 'ann_dir' / 'val')
    out = tmp_path / 'server'
    run_tool('tools/test.py', str(cfg_path), str(ckpt), '--work-dir',
             str(tmp_path / 'w'), '--out', str(out), '--format-only',
             '--cfg-options', f'test_dataloader.dataset.data_root={root}')
    assert len(list(out.glob('*.png'))) == 3


def test_unwritable_out_is_refused_before_inference(setup, tmp_path):
    cfg_path, ckpt, _ = setup
    blocker = tmp_path / 'a_file'
    blocker.write_text('')
    work = tmp_path / 'work'
    proc = run_tool('tools/test.py', str(cfg_path), str(ckpt), '--work-dir',
                    str(work), '--out', str(blocker / 'preds'), check=False)
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines()
              if line.startswith('error:')]
    assert len(errors) == 1, proc.stderr
    assert errors[0].startswith(
        f'error: --out {blocker}/preds is not a writable folder')
    assert 'Traceback' not in proc.stderr
    assert not work.exists()  # no runner was built


def test_format_only_without_out(setup):
    cfg_path, ckpt, _ = setup
    proc = run_tool('tools/test.py', str(cfg_path), str(ckpt),
                    '--format-only', check=False)
    assert proc.returncode == 2
    assert 'pass --out as well' in proc.stderr


def test_tta_end_to_end(setup, tmp_path):
    cfg_path, ckpt, _ = setup
    out = tmp_path / 'preds'
    proc = run_tool('tools/test.py', str(cfg_path), str(ckpt), '--tta',
                    '--work-dir', str(tmp_path / 'w'), '--out', str(out))
    assert 0 <= miou(tmp_path / 'w') <= 100
    assert len(list(out.glob('*.png'))) == 3
    # MMSegmentation's SegTTAModel is replaced, with a message
    proc = run_tool('tools/test.py', str(cfg_path), str(ckpt), '--tta',
                    '--work-dir', str(tmp_path / 'w2'), '--cfg-options',
                    'tta_model.type=SegTTAModel')
    assert 'using BDLSegTTAModel' in full_log(proc, tmp_path / 'w2')


def test_tta_without_pipeline(setup, tmp_path):
    cfg_path, ckpt, _ = setup
    bare = tmp_path / 'bare.py'
    bare.write_text(f'_base_ = [{str(cfg_path)!r}]\ntta_pipeline = None\n')
    proc = run_tool('tools/test.py', str(bare), str(ckpt), '--tta',
                    check=False)
    assert proc.returncode == 2
    assert '--tta needs a `tta_pipeline`' in proc.stderr
