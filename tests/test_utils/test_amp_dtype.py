"""--amp's autocast dtype: float16 by default (MMEngine's), bfloat16 by
``--amp-dtype`` or the config's ``amp_dtype``, the same in every phase's
wrappers; a dtype without --amp is refused (it would do nothing)."""
import os.path as osp
import subprocess
import sys

import pytest
import torch

from mmbdl.utils import load_config
from mmbdl.utils.errors import ConfigCheckError
from mmbdl.utils.launch import check_amp_request, enable_amp

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(REPO, 'configs/bdl/bdl_demo.py')


def _wrappers(cfg):
    out = []

    def visit(node):
        if isinstance(node, dict):
            if 'optimizer' in node:
                out.append(node)
                return
            for value in node.values():
                visit(value)

    visit(cfg.optim_wrapper)
    return out


@pytest.mark.parametrize('flag,config,expected', [
    (None, None, None),  # MMEngine's default: float16 on CUDA
    ('bfloat16', None, 'bfloat16'),
    (None, 'bfloat16', 'bfloat16'),
    ('float16', 'bfloat16', 'float16'),  # the command line wins
])
def test_every_phase_wrapper_gets_the_dtype(monkeypatch, flag, config,
                                            expected):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = load_config(DEMO)
    if config is not None:
        cfg.amp_dtype = config
    enable_amp(cfg, flag)
    wrappers = _wrappers(cfg)
    # translation: generators + discriminators; segmentation: M + D
    assert len(wrappers) == 4
    for wrapper in wrappers:
        assert wrapper['type'] == 'AmpOptimWrapper'
        assert wrapper['loss_scale'] == 'dynamic'
        assert wrapper.get('dtype') == expected


def test_bad_dtype_and_dtype_without_amp(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = load_config(DEMO)
    with pytest.raises(ConfigCheckError, match="amp_dtype='float64'"):
        enable_amp(cfg, 'float64')
    check_amp_request(cfg, amp=False)  # nothing asked: fine
    cfg.amp_dtype = 'bfloat16'
    with pytest.raises(ConfigCheckError, match='AMP is off: add --amp'):
        check_amp_request(cfg, amp=False)
    check_amp_request(cfg, amp=True)


@pytest.mark.slow  # a real tools/train.py process
def test_entry_point_refuses_amp_dtype_without_amp(tmp_path):
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', 'configs/bdl/bdl_demo.py',
         '--amp-dtype', 'bfloat16', '--work-dir', str(tmp_path / 'w')],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines()
              if line.startswith('error:')]
    assert len(errors) == 1 and errors[0].startswith(
        "error: --amp-dtype is 'bfloat16' but AMP is off: add --amp (or "
        'remove --amp-dtype)'), proc.stderr
    assert 'Traceback' not in proc.stderr
