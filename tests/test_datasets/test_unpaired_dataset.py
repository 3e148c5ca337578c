"""UnpairedDataset for the CycleGAN translator."""
import os

import numpy as np
import pytest
import torch
from data_fixtures import save_rgb
from mmengine.config import Config

from mmbdl.datasets import UnpairedDataset
from mmbdl.datasets.data_checks import DataCheckError
from mmbdl.registry import DATASETS

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


@pytest.fixture
def root(tmp_path):
    for i in range(3):
        save_rgb(np.full((20, 40, 3), 10 + i, np.uint8),
                 str(tmp_path / 'src' / f'{i:05d}.png'))
    for i in range(2):
        save_rgb(np.full((16, 32, 3), 100 + i, np.uint8),
                 str(tmp_path / 'tgt' / 'aachen' / f'a_{i}_leftImg8bit.png'))
    return str(tmp_path)


def test_keys_and_random_target(root):
    ds = UnpairedDataset(
        data_root=root, data_prefix=dict(source='src', target='tgt'),
        target_suffix='_leftImg8bit.png')
    assert len(ds) == 3
    info = ds.get_data_info(4)
    assert info['img_source_path'].endswith('00001.png')
    seen = {osp_base(ds.get_data_info(0)['img_target_path'])
            for _ in range(30)}
    assert seen == {'a_0_leftImg8bit.png', 'a_1_leftImg8bit.png'}
    test = UnpairedDataset(
        data_root=root, data_prefix=dict(source='src', target='tgt'),
        target_suffix='_leftImg8bit.png', test_mode=True)
    assert osp_base(test.get_data_info(2)['img_target_path']) == \
        'a_0_leftImg8bit.png'


def osp_base(p):
    return os.path.basename(p)


def test_unpaired_config_pipeline_crops_independently(root):
    cfg = Config.fromfile(os.path.join(
        REPO, 'configs/_base_/datasets/unpaired_gta5-to-cityscapes.py'))
    ds_cfg = cfg.train_dataloader.dataset
    ds_cfg.data_root = root
    ds_cfg.data_prefix = dict(source='src', target='tgt')
    # shrink the release's width-1024 resize / 452 crop to the tiny images
    ds_cfg.pipeline[2].width = 16
    ds_cfg.pipeline[3].crop_size = (6, 6)
    ds = DATASETS.build(ds_cfg)
    out = ds[0]
    assert set(out['inputs']) == {'img_source', 'img_target'}
    assert out['inputs']['img_source'].shape == (3, 6, 6)
    assert out['inputs']['img_target'].shape == (3, 6, 6)
    assert torch.all(out['inputs']['img_source'] == 10)
    assert out['inputs']['img_target'].min() >= 100


def test_missing_or_empty_domain(root, tmp_path):
    with pytest.raises(FileNotFoundError, match='nothere'):
        UnpairedDataset(data_root=root,
                        data_prefix=dict(source='nothere', target='tgt'))
    os.makedirs(tmp_path / 'empty')
    with pytest.raises(DataCheckError, match='no target image'):
        UnpairedDataset(data_root=root,
                        data_prefix=dict(source='src', target='empty'))
    with pytest.raises(KeyError, match='target'):
        DATASETS.build(dict(type='UnpairedDataset', data_root=root,
                            data_prefix=dict(source='src')))
