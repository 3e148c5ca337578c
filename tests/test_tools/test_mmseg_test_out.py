"""MMSegmentation's own ``tools/test.py --out DIR`` on an mmbdl config.

``--out`` sets ``test_evaluator.output_dir=DIR`` and
``test_evaluator.keep_results=True``; ``BDLIoUMetric`` must accept both,
evaluate, and leave one prediction PNG per image in ``DIR``.
"""
import logging
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import torch
from mmengine.logging import MMLogger
from PIL import Image

from mmbdl.evaluation import BDLIoUMetric

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(REPO, 'configs', 'bdl', 'bdl_demo.py')


def _run(args, cwd, timeout=600):
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (REPO, env.get('PYTHONPATH')) if p)
    return subprocess.run([sys.executable, *args], cwd=str(cwd), env=env,
                          capture_output=True, text=True, timeout=timeout)


def _initial_checkpoint(path):
    """The demo model's initial weights as an MMEngine checkpoint."""
    from mmengine.config import Config

    from mmbdl.registry import MODELS
    model = MODELS.build(Config.fromfile(DEMO).model)
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, str(path))


def test_mmseg_test_py_out_writes_predictions_and_evaluates(tmp_path):
    proc = _run([
        osp.join(REPO, 'tools', 'make_demo_data.py'), '--out',
        str(tmp_path / 'data' / 'demo'), '--num-source', '2',
        '--num-target-train', '2', '--num-target-val', '3'
    ], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _initial_checkpoint(tmp_path / 'init.pth')
    import mmseg
    tool = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'test.py')
    out = tmp_path / 'out'
    proc = _run([
        tool, DEMO, 'init.pth', '--work-dir',
        str(tmp_path / 'test'), '--out',
        str(out)
    ], cwd=tmp_path)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    assert 'unexpected keyword' not in log
    assert 'mIoU:' in log
    names = sorted(os.listdir(out))
    val = sorted(os.listdir(tmp_path / 'data' / 'demo' / 'cityscapes' /
                            'leftImg8bit' / 'val' / 'demoburg'))
    assert names == val
    pred = np.array(Image.open(out / names[0]))
    assert pred.shape == (64, 128)
    assert pred.max() < 19


def test_keep_results_is_accepted_and_format_only_does_not_warn(
        tmp_path, caplog):
    metric = BDLIoUMetric(num_classes=3, output_dir=str(tmp_path / 'p'),
                          format_only=True, keep_results=True)
    metric.dataset_meta = dict(classes=('a', 'b', 'c'))
    pred = torch.tensor([[0, 1], [2, 1]])
    metric.process({}, [dict(pred_sem_seg=dict(data=pred[None]),
                             img_path='/x/one.png')])
    logger = MMLogger.get_current_instance()
    logger.propagate = True
    with caplog.at_level(logging.WARNING):
        assert metric.evaluate(1) == {}
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert np.array_equal(np.array(Image.open(tmp_path / 'p' / 'one.png')),
                          pred.numpy())
