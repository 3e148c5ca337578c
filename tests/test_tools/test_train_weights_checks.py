"""tools/train.py refuses runs whose weights were not really loaded.

Random backbones, load_from checkpoints that hardly fit and missing
pretrained files each stop with one ``error:`` line naming the fix.
"""
import os.path as osp

import torch
from cli_runner import run_tool
from tiny_seg import tiny_seg_config, write_tiny_seg_dataset

CHECK = "default_hooks['weights_check'] = dict(type='WeightsCheckHook')\n"


def _write_cfg(tmp_path, extra):
    data = str(tmp_path / 'data')
    if not osp.isdir(data):
        write_tiny_seg_dataset(data)
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(tiny_seg_config(data, max_iters=2, extra=extra))
    return cfg


def _train(tmp_path, extra, *args, env=None):
    cfg = _write_cfg(tmp_path, extra)
    # in this process (tests/cli_runner.py): the checks are the point
    return run_tool('tools/train.py', [str(cfg), '--work-dir',
                                       str(tmp_path / 'work'), *args],
                    env=env)


def _error_lines(proc):
    return [line for line in proc.stderr.splitlines()
            if line.startswith('error:')]


def test_random_backbone_refused(tmp_path):
    proc = _train(tmp_path, CHECK)
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line, ) = _error_lines(proc)
    assert "M's backbone (ResNetV1c) would train from random weights" in line
    assert 'model.backbone.init_cfg' in line
    assert 'default_hooks.weights_check.allow_random_init=True' in line
    assert not osp.exists(tmp_path / 'work' / 'iter_1.pth')


def test_load_from_with_a_foreign_prefix_refused(tmp_path):
    # a checkpoint of the same model under another prefix
    path = str(tmp_path / 'prefixed.pth')
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmbdl.registry import MODELS
    init_default_scope('mmbdl')
    model = MODELS.build(Config.fromfile(str(_write_cfg(tmp_path,
                                                        CHECK))).model)
    torch.save(dict(state_dict={f'segmentor.{k}': v for k, v in
                                model.state_dict().items()}), path)
    proc = _train(tmp_path, CHECK + f'load_from = {path!r}\n')
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line, ) = _error_lines(proc)
    assert 'fewer than 50%' in line
    assert "remove the prefix 'segmentor.'" in line


def test_missing_pretrained_file_is_one_error_line(tmp_path):
    extra = ("model['backbone']['init_cfg'] = dict(type='Pretrained', "
             "checkpoint='bdl://deeplabv2-resnet101-imagenet', "
             "prefix='backbone.')\n")
    proc = _train(tmp_path, extra, env=dict(
        MMBDL_OFFLINE='1', MMBDL_CHECKPOINTS=str(tmp_path / 'none'),
        TORCH_HOME=str(tmp_path / 'torch')))
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line, ) = _error_lines(proc)
    assert 'DeepLab_resnet_pretrained_init-f81d91e8.pth' in line
    assert 'http://vllab.ucmerced.edu/ytsai/CVPR18/' in line
    assert 'put it at checkpoints/DeepLab_resnet_pretrained_init' in line


def test_allow_random_init_trains_with_a_warning(tmp_path):
    proc = _train(tmp_path, CHECK + "default_hooks['weights_check'][" +
                  "'allow_random_init'] = True\n")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert osp.exists(tmp_path / 'work' / 'iter_2.pth')
    assert 'allow_random_init=True: M\'s backbone' in proc.stdout + \
        proc.stderr
