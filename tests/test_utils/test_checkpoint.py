"""Checkpoints written by MMEngine load under torch's weights_only default."""
import collections
import pickle

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint
from tiny_seg import tiny_seg_config, write_tiny_seg_dataset

from mmbdl.utils import register_checkpoint_safe_globals
from mmbdl.utils.weights import CheckpointRefusedError


class NotAllowed:
    """A class no checkpoint allow-list contains."""

    def __init__(self):
        self.value = 1


def test_loader_is_wrapped_once():
    register_checkpoint_safe_globals()
    register_checkpoint_safe_globals()
    loader = CheckpointLoader._schemes['']
    assert hasattr(loader, '__wrapped__')
    assert not hasattr(loader.__wrapped__, '__wrapped__')


@pytest.mark.slow  # trains, resumes and tests a runner
def test_runner_checkpoint_resumes_and_tests(tmp_path):
    data_root = write_tiny_seg_dataset(str(tmp_path / 'data'))
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text(tiny_seg_config(data_root, max_iters=2))
    cfg = Config.fromfile(str(cfg_file))
    cfg.work_dir = str(tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    runner.train()
    ckpt_path = tmp_path / 'work' / 'iter_2.pth'
    # the checkpoint really holds what torch's safe loader refuses by default
    raw = torch.load(ckpt_path, map_location='cpu', weights_only=False)
    buffers = raw['message_hub']['log_scalars']
    assert type(next(iter(buffers.values()))).__name__ == 'HistoryBuffer'
    # default torch.load (weights_only=True on torch >= 2.6) now succeeds
    loaded = torch.load(ckpt_path, map_location='cpu')
    assert loaded['meta']['iter'] == 2

    cfg2 = Config.fromfile(str(cfg_file))
    cfg2.work_dir = str(tmp_path / 'work2')
    cfg2.train_cfg.max_iters = 3
    cfg2.resume = True
    cfg2.load_from = str(ckpt_path)
    runner2 = Runner.from_cfg(cfg2)
    runner2.train()
    assert runner2.iter == 3
    metrics = runner2.test()
    assert 'mIoU' in metrics


def test_unknown_class_is_refused_by_name(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': collections.OrderedDict(), 'x': NotAllowed()},
               path)
    with pytest.raises(CheckpointRefusedError) as info:
        _load_checkpoint(str(path), map_location='cpu')
    message = str(info.value)
    assert 'NotAllowed' in message
    assert str(path) in message
    assert isinstance(info.value, pickle.UnpicklingError)
