"""Configs for converted release checkpoints use the release's 2-branch
ASPP sum; the training configs keep all 4 branches."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmbdl.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
RELEASE = sorted(glob.glob(osp.join(ROOT, 'configs/bdl/release-checkpoint_*')))


def test_one_per_source():
    assert [osp.basename(p).split('_')[2] for p in RELEASE] == [
        'gta5-to-cityscapes-1024x512.py', 'synthia-to-cityscapes-1024x512.py']


@pytest.mark.parametrize('path', RELEASE)
def test_two_effective_branches(path):
    cfg = Config.fromfile(path)
    seg = cfg.model.segmentor
    assert seg.decode_head.num_effective_branches == 2
    assert seg.backbone.init_cfg is None
    train = Config.fromfile(path.replace(
        'release-checkpoint_deeplabv2-r101_',
        'adv_deeplabv2-r101_1xb1-80k_'))
    assert train.model.segmentor.decode_head.num_effective_branches is None
    # the head really sums only the first two branches
    head = MODELS.build(dict(seg.decode_head, in_channels=8))
    x = torch.randn(1, 8, 5, 5)
    full = dict(seg.decode_head, in_channels=8, num_effective_branches=None)
    four = MODELS.build(full)
    four.load_state_dict(head.state_dict())
    for conv in four.classifiers[2:]:
        torch.nn.init.zeros_(conv.weight)
        torch.nn.init.zeros_(conv.bias)
    torch.testing.assert_close(head.forward([x]), four.forward([x]))
