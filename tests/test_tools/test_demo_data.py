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

from mmbdl.datasets.demo import (COMPLETE_FILE, DATA_VERSION, DEMO_TRAIN_IDS,
                                 draw_sample, make_demo_data)
from mmbdl.registry import DATASETS
from mmbdl.utils.errors import ConfigCheckError

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


@pytest.mark.parametrize('version', [2, 3])
def test_appearance_gap(version):
    src, ids_s = draw_sample(0, 5, 'source', 128, 64, version)
    tgt, ids_t = draw_sample(0, 5, 'target', 128, 64, version)
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


@pytest.mark.parametrize('version', [2, 3])
def test_target_is_noisier_inside_regions(version):
    """The target's texture and sensor noise (about 9 grey levels between
    neighbours inside a region) against the source's light noise (about
    4): more than 1.8 times, in every sample."""
    for index in range(6):
        src, ids_s = draw_sample(0, index, 'source', 128, 64, version)
        tgt, ids_t = draw_sample(0, index, 'target', 128, 64, version)
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


def _show_demo_data():
    path = osp.join(REPO, 'tools', 'analysis', 'show_demo_data.py')
    spec = importlib.util.spec_from_file_location('_show_demo', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_grid_script(demo, tmp_path):
    module = _show_demo_data()
    grid = module.demo_grid(demo, num=3, scale=1, pad=2)
    # 4 rows (source, label, target, label) x 3 columns of 64x32 cells
    assert grid.shape == (4 * 34 + 2, 3 * 66 + 2, 3)
    with pytest.raises(FileNotFoundError, match='make_demo_data'):
        module.demo_grid(str(tmp_path / 'none'))


def test_set_of_another_version_is_redrawn(tmp_path):
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


def test_v2_request_on_a_v3_set_redraws_and_bad_version(tmp_path):
    assert DATA_VERSION == 3
    out = str(tmp_path / 'demo')
    assert make_demo_data(out, **SMALL)['version'] == 3
    v3 = open(osp.join(out, 'gta5', 'labels', '00000.png'), 'rb').read()
    again = make_demo_data(out, version=2, **SMALL)
    assert again['version'] == 2 and 'reused' not in again
    assert json.load(open(osp.join(out, COMPLETE_FILE)))['version'] == 2
    v2 = open(osp.join(out, 'gta5', 'labels', '00000.png'), 'rb').read()
    assert v2 != v3
    assert make_demo_data(out, version=2, **SMALL)['reused'] is True
    with pytest.raises(ConfigCheckError, match=r'version 7 .*\[2, 3\]'):
        make_demo_data(str(tmp_path / 'bad'), version=7, **SMALL)
    assert not osp.exists(str(tmp_path / 'bad.partial'))


def test_cli_data_version(tmp_path, capsys):
    path = osp.join(REPO, 'tools', 'make_demo_data.py')
    spec = importlib.util.spec_from_file_location('_make_demo', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = str(tmp_path / 'demo')
    args = ['--out', out, '--num-source', '2', '--num-target-train', '2',
            '--num-target-val', '1', '--size', '64', '32']
    module.main(args + ['--data-version', '2'])
    assert 'demo data version 2 in' in capsys.readouterr().out
    assert json.load(open(osp.join(out, COMPLETE_FILE)))['version'] == 2
    module.main(args)  # the default version redraws the v2 set
    assert 'redrawing it as version 3' in capsys.readouterr().out
    assert json.load(open(osp.join(out, COMPLETE_FILE)))['version'] == 3
    with pytest.raises(SystemExit):
        module.parse_args(args + ['--data-version', '1'])


@pytest.fixture(scope='module')
def shift_sets(tmp_path_factory):
    """A set of each version, big enough for stable class frequencies."""
    root = tmp_path_factory.mktemp('shift')
    sets = {}
    for version in (2, 3):
        sets[version] = str(root / f'v{version}')
        make_demo_data(sets[version], num_source=60, num_target_train=40,
                       num_target_val=20, size=(64, 32), version=version)
    return sets


def test_content_shift_of_version_3(shift_sets):
    """v3: several classes 1.5x to 3.5x more frequent in one domain (the
    default set: 0.5 to 3.1, docs/demo.md), every class in both domains;
    v2: the same statistics in both (every ratio within 0.7 to 1.45)."""
    module = _show_demo_data()
    ratios = {}
    for version, root in shift_sets.items():
        rows = module.class_frequencies(root)['rows']
        assert [r[0] for r in rows] == [
            'road', 'sidewalk', 'building', 'pole', 'traffic sign',
            'vegetation', 'sky', 'person', 'car'
        ]
        assert all(src > 0 and tgt > 0 for _, src, tgt in rows)
        assert abs(sum(r[1] for r in rows) - 100) < 1e-6
        ratios[version] = {name: tgt / src for name, src, tgt in rows}
    assert all(0.7 < r < 1.45 for r in ratios[2].values()), ratios[2]
    v3 = ratios[3]
    # more in the Cityscapes-like target
    for name in ('sidewalk', 'building', 'pole', 'vegetation', 'person'):
        assert 1.4 < v3[name] < 3.5, (name, v3[name])
    # more in the GTA5-like source
    for name in ('sky', 'car'):
        assert 1.5 < 1 / v3[name] < 3.5, (name, v3[name])
    assert v3['road'] < 0.9


def test_frequency_table(shift_sets, tmp_path):
    module = _show_demo_data()
    table = module.frequency_table(shift_sets[3]).splitlines()
    assert table[0].startswith('demo data version 3 (seed 0, 60 source, '
                               '40 + 20 target images of 64x32)')
    assert table[2] == '| class | source % | target % | target / source |'
    assert len(table) == 4 + 9
    name, src, tgt, ratio = [c.strip() for c in table[4].strip('|').split(
        '|')]
    assert name == 'road' and float(ratio) == pytest.approx(
        float(tgt) / float(src), abs=0.01)
    with pytest.raises(FileNotFoundError, match='make_demo_data.py --out'):
        module.class_frequencies(str(tmp_path))
