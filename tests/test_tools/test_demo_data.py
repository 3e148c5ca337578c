"""Demo data: layout, determinism, real converters and loaders, the gap."""
import filecmp
import importlib.util
import json
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

from mmbdl.datasets.demo import (COMPLETE_FILE, DEMO_TRAIN_IDS, draw_sample,
                                 make_demo_data)
from mmbdl.registry import DATASETS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SMALL = dict(num_source=4, num_target_train=3, num_target_val=2,
             size=(64, 32))


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('demo') / 'demo')
    make_demo_data(out, **SMALL)
    return out


def test_layout_and_encodings(demo):
    summary = json.load(open(osp.join(demo, COMPLETE_FILE)))
    assert summary['num_source'] == 4 and summary['size'] == [64, 32]
    assert not osp.exists(demo + '.partial')
    # source: GTA5 layout, palette-mode id labels + converted train ids
    raw = Image.open(osp.join(demo, 'gta5', 'labels', '00003.png'))
    assert raw.mode == 'P'
    ids = set(np.unique(np.array(raw)).tolist())
    assert ids <= {7, 8, 11, 17, 20, 21, 23, 24, 26}
    train = np.array(Image.open(osp.join(
        demo, 'gta5', 'labels', '00003_labelTrainIds.png')))
    assert set(np.unique(train)) <= set(DEMO_TRAIN_IDS) | {255}
    # target: Cityscapes layout, 8-bit ids incl. the void ego vehicle
    cs = osp.join(demo, 'cityscapes')
    val = sorted(os.listdir(osp.join(cs, 'leftImg8bit', 'val', 'demoburg')))
    assert val == ['demoburg_000000_000000_leftImg8bit.png',
                   'demoburg_000000_000001_leftImg8bit.png']
    lbl = osp.join(cs, 'gtFine', 'val', 'demoburg',
                   'demoburg_000000_000000_gtFine_labelIds.png')
    assert Image.open(lbl).mode == 'L'
    train = np.array(Image.open(lbl.replace('labelIds', 'labelTrainIds')))
    assert (train[-1] == 255).any()  # ego vehicle -> ignore
    assert Image.open(osp.join(
        cs, 'leftImg8bit', 'train', 'demotown',
        'demotown_000000_000000_leftImg8bit.png')).size == (64, 32)
    for root in ('gta5', 'cityscapes'):
        assert osp.exists(osp.join(demo, root, 'sample_class_stats.json'))


def test_deterministic_and_reused(demo, tmp_path):
    again = str(tmp_path / 'again')
    make_demo_data(again, **SMALL)
    for rel in ('gta5/images/00002.png', 'gta5/labels/00002.png',
                'cityscapes/leftImg8bit/val/demoburg/'
                'demoburg_000000_000001_leftImg8bit.png'):
        assert filecmp.cmp(osp.join(demo, rel), osp.join(again, rel),
                           shallow=False)
    stamp = os.path.getmtime(osp.join(again, 'gta5/images/00000.png'))
    make_demo_data(again, **SMALL)  # complete: reused
    assert os.path.getmtime(osp.join(again, 'gta5/images/00000.png')) == \
        stamp


def test_appearance_gap_with_shared_layout():
    src, ids_s = draw_sample(0, 5, 'source', 128, 64)
    tgt, ids_t = draw_sample(0, 5, 'target', 128, 64)
    # same classes, different appearance: each class's mean colour (in its
    # own image) moves by more than 30 grey levels in some channel
    means = []
    for cls in (7, 11, 23):  # road, building, sky
        if (ids_s == cls).any() and (ids_t == cls).any():
            means.append(np.abs(src[ids_s == cls].mean(0) -
                                tgt[ids_t == cls].mean(0)).max())
    assert means and min(means) > 30


def _noise_within_regions(img, ids, classes=(7, 23)):
    """Mean absolute difference of horizontally adjacent pixels inside
    road and sky regions (no class edges, no building windows)."""
    diff = np.abs(np.diff(img.astype(float), axis=1)).mean(-1)
    inside = (ids[:, 1:] == ids[:, :-1]) & np.isin(ids[:, 1:], classes)
    return diff[inside].mean()


def test_target_is_noisier_inside_regions():
    """The target's texture and sensor noise (about 9 grey levels between
    neighbours inside a region) against the source's light noise (about
    4): more than 1.8 times, in every sample."""
    for index in range(6):
        src, ids_s = draw_sample(0, index, 'source', 128, 64)
        tgt, ids_t = draw_sample(0, index, 'target', 128, 64)
        assert _noise_within_regions(tgt, ids_t) > \
            1.8 * _noise_within_regions(src, ids_s), index


def test_demo_configs_build_on_demo_data(demo):
    cfg_dir = osp.join(REPO, 'configs', '_base_', 'datasets')
    uda = Config.fromfile(osp.join(cfg_dir, 'demo_uda.py'))
    ds_cfg = uda.train_dataloader.dataset
    ds_cfg.source.data_root = osp.join(demo, 'gta5')
    ds_cfg.target.data_root = osp.join(demo, 'cityscapes')
    ds = DATASETS.build(ds_cfg)
    item = ds[0]
    assert item['inputs']['source'].shape == (3, 64, 128)  # demo size
    assert 'gt_sem_seg' in item['data_samples']['source']
    val_cfg = uda.val_dataloader.dataset
    val_cfg.data_root = osp.join(demo, 'cityscapes')
    val = DATASETS.build(val_cfg)
    assert len(val) == 2
    assert val[0]['data_samples'].gt_sem_seg.shape == (32, 64)
    unpaired = Config.fromfile(osp.join(cfg_dir, 'demo_unpaired.py'))
    u_cfg = unpaired.train_dataloader.dataset
    u_cfg.data_root = demo
    u = DATASETS.build(u_cfg)
    assert len(u) == 4
    assert u[0]['inputs']['img_target'].shape == (3, 64, 128)


def test_grid_script(demo, tmp_path):
    path = osp.join(REPO, 'tools', 'analysis', 'show_demo_data.py')
    spec = importlib.util.spec_from_file_location('_show_demo', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    grid = module.demo_grid(demo, num=3, scale=1, pad=2)
    # 4 rows (source, label, target, label) x 3 columns of 64x32 cells
    assert grid.shape == (4 * 34 + 2, 3 * 66 + 2, 3)
    with pytest.raises(FileNotFoundError, match='make_demo_data'):
        module.demo_grid(str(tmp_path / 'none'))


def test_set_of_another_version_is_redrawn(tmp_path):
    from mmbdl.datasets.demo import DATA_VERSION
    out = str(tmp_path / 'demo')
    first = make_demo_data(out, **SMALL)
    assert first['version'] == DATA_VERSION and 'reused' not in first
    assert make_demo_data(out, **SMALL)['reused'] is True
    marker = osp.join(out, COMPLETE_FILE)
    old = dict(json.load(open(marker)), version=DATA_VERSION - 1)
    with open(marker, 'w') as f:
        json.dump(old, f)
    again = make_demo_data(out, **SMALL)
    assert 'reused' not in again
    assert json.load(open(marker))['version'] == DATA_VERSION
