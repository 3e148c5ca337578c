"""GTA5 / SYNTHIA / Cityscapes data sets on tiny converted files."""
import os
import os.path as osp

import numpy as np
import pytest
from data_fixtures import (CS_TRAIN, SYN_TRAIN, write_cityscapes, write_gta5,
                           write_synthia)
from PIL import Image

from mmbdl.datasets import CityscapesDataset, GTA5Dataset, SynthiaDataset
from mmbdl.datasets.converters import (convert_cityscapes, convert_gta5,
                                       convert_synthia)
from mmbdl.datasets.data_checks import DataCheckError
from mmbdl.registry import DATASETS

PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
            dict(type='PackSegInputs')]
# MMEngine's serialisation runs gc.collect() (about 1 s in a test process)
FAST = dict(serialize_data=False)


@pytest.fixture
def gta5(tmp_path):
    root = write_gta5(str(tmp_path / 'gta5'), n=3)
    convert_gta5(root, progress=False)
    return root


def test_gta5_loads_train_ids(gta5):
    ds = DATASETS.build(dict(type='GTA5Dataset', data_root=gta5,
                             pipeline=PIPELINE, **FAST))
    assert isinstance(ds, GTA5Dataset) and len(ds) == 3
    assert len(ds.metainfo['classes']) == 19
    out = ds[1]
    assert out['inputs'].shape == (3, 3, 4)
    np.testing.assert_array_equal(out['data_samples'].gt_sem_seg.data[0],
                                  CS_TRAIN)
    assert out['data_samples'].img_path.endswith('images/00001.png')


def test_synthia_loads_train_ids_and_names_absent_classes(tmp_path):
    root = write_synthia(str(tmp_path / 'synthia'), n=2)
    convert_synthia(root, progress=False)
    ds = SynthiaDataset(data_root=root, pipeline=PIPELINE, **FAST)
    assert len(ds) == 2
    assert tuple(ds.metainfo['absent_classes']) == ('terrain', 'truck',
                                                    'train')
    np.testing.assert_array_equal(ds[0]['data_samples'].gt_sem_seg.data[0],
                                  SYN_TRAIN)


def test_cityscapes_labelled_and_unlabelled(tmp_path):
    root = write_cityscapes(str(tmp_path / 'cs'), n=2)
    convert_cityscapes(root, progress=False)
    ds = DATASETS.build(dict(
        type='CityscapesDataset', data_root=root,
        data_prefix=dict(img_path='leftImg8bit/val',
                         seg_map_path='gtFine/val'),
        pipeline=PIPELINE, **FAST))
    assert isinstance(ds, CityscapesDataset) and len(ds) == 2
    np.testing.assert_array_equal(ds[0]['data_samples'].gt_sem_seg.data[0],
                                  CS_TRAIN)
    target = CityscapesDataset(
        data_root=root, data_prefix=dict(img_path='leftImg8bit/train'),
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='PackSegInputs')], **FAST)
    assert len(target) == 2
    assert 'seg_map_path' not in target.get_data_info(0)
    assert 'gt_sem_seg' not in target[0]['data_samples']


def test_missing_root_and_empty_split(tmp_path, gta5):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        GTA5Dataset(data_root=str(tmp_path / 'nope'), pipeline=PIPELINE,
                    **FAST)
    os.makedirs(tmp_path / 'empty' / 'images')
    os.makedirs(tmp_path / 'empty' / 'labels')
    with pytest.raises(DataCheckError, match='no image'):
        GTA5Dataset(data_root=str(tmp_path / 'empty'), pipeline=PIPELINE,
                    **FAST)
    root = write_cityscapes(str(tmp_path / 'cs'), splits=('train', ))
    with pytest.raises(FileNotFoundError, match='leftImg8bit/val'):
        CityscapesDataset(data_root=root,
                          data_prefix=dict(img_path='leftImg8bit/val'),
                          **FAST)


def test_image_without_label_names_file_and_converter(tmp_path):
    root = write_gta5(str(tmp_path / 'gta5'), n=2)  # not converted
    with pytest.raises(DataCheckError) as err:
        GTA5Dataset(data_root=root, pipeline=PIPELINE, **FAST)
    msg = str(err.value)
    assert '00000.png' in msg and 'tools/dataset_converters/gta5.py' in msg


def test_label_without_image(gta5):
    Image.fromarray(np.zeros((3, 4), np.uint8)).save(
        osp.join(gta5, 'labels', '00042_labelTrainIds.png'))
    with pytest.raises(DataCheckError, match='00042_labelTrainIds.png'):
        GTA5Dataset(data_root=gta5, pipeline=PIPELINE, **FAST)


def test_corrupt_image_named_at_build(gta5):
    bad = osp.join(gta5, 'images', '00002.png')
    with open(bad, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n garbage')
    with pytest.raises(DataCheckError, match='00002.png'):
        GTA5Dataset(data_root=gta5, pipeline=PIPELINE, **FAST)
    # the check can be switched off for very large sets
    assert len(GTA5Dataset(data_root=gta5, pipeline=PIPELINE, **FAST,
                           check_files=False)) == 3


def test_size_mismatch_warn_skip_error(gta5):
    Image.fromarray(np.zeros((5, 6, 3), np.uint8)).save(
        osp.join(gta5, 'images', '00001.png'))
    kept = GTA5Dataset(data_root=gta5, pipeline=PIPELINE, **FAST)
    assert len(kept) == 3
    skipped = GTA5Dataset(data_root=gta5, pipeline=PIPELINE, **FAST,
                          size_mismatch='skip')
    assert len(skipped) == 2
    assert [osp.basename(p) for p in skipped.skipped_files] == ['00001.png']
    with pytest.raises(DataCheckError, match=r'00001.png \(6, 5\)'):
        GTA5Dataset(data_root=gta5, pipeline=PIPELINE, **FAST,
                    size_mismatch='error')


def test_fixed_resize_pipeline_of_the_release(gta5):
    """Bicubic image, nearest label, both to the fixed size."""
    pipeline = [
        dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
        dict(type='Resize', scale=(8, 6), keep_ratio=False,
             interpolation='bicubic', backend='pillow'),
        dict(type='PackSegInputs')]
    out = GTA5Dataset(data_root=gta5, pipeline=pipeline, **FAST)[0]
    assert out['inputs'].shape == (3, 6, 8)
    label = out['data_samples'].gt_sem_seg.data[0].numpy()
    # nearest: every value comes from the original label
    assert set(np.unique(label)) <= set(np.unique(CS_TRAIN))
    np.testing.assert_array_equal(label[::2, ::2], CS_TRAIN)
