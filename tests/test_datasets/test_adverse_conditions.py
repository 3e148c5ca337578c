"""ACDC, Dark Zurich and own-folder targets in their real layouts."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from adverse_fixtures import write_acdc, write_dark_zurich
from data_fixtures import CS_TRAIN, rgb, save_rgb, write_gta5
from PIL import Image

from mmbdl.datasets.adverse_converters import convert_acdc, convert_dark_zurich
from mmbdl.datasets.converters import convert_gta5
from mmbdl.datasets.data_checks import DataCheckError
from mmbdl.registry import DATASETS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def infos(ds):
    return [ds.get_data_info(i) for i in range(len(ds))]


PIPE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
        dict(type='PackSegInputs')]
IMG_PIPE = [dict(type='LoadImageFromFile'), dict(type='PackSegInputs')]


@pytest.fixture(scope='module')
def acdc(tmp_path_factory):
    root = write_acdc(str(tmp_path_factory.mktemp('acdc')))
    convert_acdc(root, progress=False)
    return root


@pytest.fixture(scope='module')
def dz(tmp_path_factory):
    root = write_dark_zurich(str(tmp_path_factory.mktemp('dz')))
    convert_dark_zurich(root, progress=False)
    return root


def test_acdc_converter_writes_train_ids_and_stats(acdc):
    lbl = osp.join(acdc, 'gt/fog/val/GOPR0400/'
                   'GOPR0400_frame_000000_gt_labelTrainIds.png')
    np.testing.assert_array_equal(np.array(Image.open(lbl)), CS_TRAIN)
    with open(osp.join(acdc, 'sample_class_stats.json')) as f:
        stats = json.load(f)
    assert stats['dataset'] == 'ACDC' and stats['num_images'] == 16


def test_acdc_dataset_conditions_and_splits(acdc):
    ds = DATASETS.build(dict(type='ACDCDataset', data_root=acdc,
                             split='val', pipeline=PIPE))
    assert len(ds) == 8 and len(ds.metainfo['classes']) == 19
    conds = {d['img_path'].split(os.sep)[-4] for d in infos(ds)}
    assert conds == {'fog', 'night', 'rain', 'snow'}
    item = ds[0]
    np.testing.assert_array_equal(item['data_samples'].gt_sem_seg.data[0],
                                  CS_TRAIN)
    night = DATASETS.build(dict(type='ACDCDataset', data_root=acdc,
                                conditions='night', split='train',
                                labelled=False, pipeline=IMG_PIPE))
    assert len(night) == 2
    assert all('/night/train/' in d['img_path'] for d in infos(night))
    assert 'gt_sem_seg' not in night[0]['data_samples']
    with pytest.raises(DataCheckError, match='no public labels'):
        DATASETS.build(dict(type='ACDCDataset', data_root=acdc,
                            split='test', pipeline=PIPE))
    with pytest.raises(ValueError, match='haze'):
        DATASETS.build(dict(type='ACDCDataset', data_root=acdc,
                            conditions=('fog', 'haze'), pipeline=PIPE))


def test_acdc_missing_label_names_the_converter(tmp_path):
    root = write_acdc(str(tmp_path / 'acdc'), n=1)
    with pytest.raises(DataCheckError) as err:
        DATASETS.build(dict(type='ACDCDataset', data_root=root,
                            conditions='rain', split='val', pipeline=PIPE))
    assert 'tools/dataset_converters/acdc.py' in str(err.value)
    os.remove(osp.join(root, 'gt/snow/train/GOPR0430/'
                       'GOPR0430_frame_000000_gt_labelIds.png'))
    with pytest.raises(DataCheckError, match='without a label'):
        convert_acdc(root, progress=False)


def test_dark_zurich(dz):
    train = DATASETS.build(dict(type='DarkZurichDataset', data_root=dz,
                                pipeline=IMG_PIPE))
    assert len(train) == 2
    assert all('/train/night/' in d['img_path'] for d in infos(train))
    val = DATASETS.build(dict(type='DarkZurichDataset', data_root=dz,
                              split='val', pipeline=PIPE))
    assert len(val) == 2
    np.testing.assert_array_equal(
        val[1]['data_samples'].gt_sem_seg.data[0], CS_TRAIN)
    with pytest.raises(DataCheckError, match='public labels'):
        DATASETS.build(dict(type='DarkZurichDataset', data_root=dz,
                            split='train', labelled=True, pipeline=PIPE))


@pytest.mark.slow  # a real converter process
def test_dark_zurich_converter_cli(tmp_path):
    root = write_dark_zurich(str(tmp_path / 'dz'))
    out = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/dataset_converters/'
                                  'dark_zurich.py'), root],
        capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert 'Dark Zurich: 2 val labels (2 converted' in out.stdout
    assert osp.isfile(osp.join(root, 'gt/val/night/GOPR0356/'
                               'GOPR0356_frame_000001_gt_labelTrainIds.png'))
    bad = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/dataset_converters/'
                                  'dark_zurich.py'), str(tmp_path / 'none')],
        capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 2 and bad.stderr.startswith('error: ')


def test_target_with_other_classes_is_refused_side_by_side(tmp_path):
    src = write_gta5(str(tmp_path / 'gta5'), n=1)
    convert_gta5(src, progress=False)
    for i in range(2):
        save_rgb(rgb(4, 6, i), str(tmp_path / 'own' / f'{i}.jpg'))
    own = dict(type='ImageFolderTargetDataset', data_root=str(tmp_path /
                                                              'own'),
               img_suffix='.jpg', pipeline=IMG_PIPE)
    uda = dict(type='UDADataset',
               source=dict(type='GTA5Dataset', data_root=src, pipeline=PIPE),
               target=own)
    ds = DATASETS.build(uda)
    assert len(ds.target) == 2 and ds.metainfo['classes'][-1] == 'bicycle'
    own['metainfo'] = dict(classes=('road', 'building', 'sky'))
    with pytest.raises(ValueError) as err:
        DATASETS.build(uda)
    msg = str(err.value)
    assert 'same classes' in msg
    lines = msg.splitlines()
    assert any(line.split() == ['0', 'road', 'road'] for line in lines)
    assert any(line.split() == ['*', '1', 'sidewalk', 'building']
               for line in lines)
    assert any(line.split() == ['*', '18', 'bicycle', '-'] for line in lines)
