"""UDADataset: branch format, translated source, pseudo-labels, checks."""
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from data_fixtures import CS_TRAIN, write_cityscapes, write_gta5
from mmengine.dataset import pseudo_collate
from PIL import Image

from mmbdl.datasets import UDADataset
from mmbdl.datasets.converters import convert_cityscapes, convert_gta5
from mmbdl.datasets.data_checks import DataCheckError
from mmbdl.registry import DATASETS

SRC_PIPE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
            dict(type='PackSegInputs')]
TGT_PIPE = [dict(type='LoadImageFromFile'), dict(type='LoadPseudoLabel'),
            dict(type='PackBDLSegInputs')]


@pytest.fixture(scope='module')
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp('uda')
    src = write_gta5(str(base / 'gta5'), n=3)
    convert_gta5(src, progress=False)
    tgt = write_cityscapes(str(base / 'cs'), splits=('train', ), n=2,
                           size=(6, 8))
    convert_cityscapes(tgt, splits=('train', ), progress=False)
    return src, tgt


def cfg(roots, **kwargs):
    src, tgt = roots
    return dict(
        type='UDADataset',
        source=dict(type='GTA5Dataset', data_root=src, pipeline=SRC_PIPE,
                    serialize_data=False),
        target=dict(type='CityscapesDataset', data_root=tgt,
                    data_prefix=dict(img_path='leftImg8bit/train'),
                    pipeline=TGT_PIPE, serialize_data=False),
        **kwargs)


def complete(path):
    with open(osp.join(path, '.complete.json'), 'w') as f:
        json.dump(dict(num_files=2), f)


def write_pseudo(root, label, weight=None):
    for i in range(2):
        rel = f'aachen/aachen_000000_{i:06d}_leftImg8bit'
        os.makedirs(osp.join(root, 'aachen'), exist_ok=True)
        Image.fromarray(label).save(osp.join(root, rel + '.png'))
        if weight is not None:
            Image.fromarray(weight).save(osp.join(root, rel + '.weight.png'))
    complete(root)


def test_branch_format_and_collate(roots):
    ds = DATASETS.build(cfg(roots, seed=0))
    assert isinstance(ds, UDADataset) and len(ds) == 3
    assert len(ds.metainfo['classes']) == 19
    item = ds[0]
    assert set(item) == {'inputs', 'data_samples'}
    assert item['inputs']['source'].shape == (3, 3, 4)
    assert item['inputs']['target'].shape == (3, 6, 8)
    assert item['inputs']['source'].dtype == torch.uint8
    np.testing.assert_array_equal(
        item['data_samples']['source'].gt_sem_seg.data[0], CS_TRAIN)
    assert 'gt_sem_seg' not in item['data_samples']['target']
    batch = pseudo_collate([ds[0], ds[1]])
    assert len(batch['inputs']['source']) == 2
    assert len(batch['data_samples']['target']) == 2


def test_random_target_pairing_is_seeded(roots):
    a = DATASETS.build(cfg(roots, seed=3))
    b = DATASETS.build(cfg(roots, seed=3))
    pick = lambda ds: [ds.get_data_info(i % 3)['target']['img_path']  # noqa
                       for i in range(20)]
    pa = pick(a)
    assert pa == pick(b)
    assert len(set(pa)) == 2  # both target images are drawn


def test_translated_source_replaces_images_not_labels(roots, tmp_path):
    out = tmp_path / 'translated'
    os.makedirs(out)
    for i in range(3):
        Image.fromarray(np.full((3, 4, 3), 200 + i, np.uint8)).save(
            out / f'{i:05d}.png')
    with pytest.raises(DataCheckError, match='.complete.json'):
        DATASETS.build(cfg(roots, translated_source_dir=str(out)))
    complete(str(out))
    ds = DATASETS.build(cfg(roots, translated_source_dir=str(out)))
    item = ds[2]
    assert torch.all(item['inputs']['source'] == 202)
    np.testing.assert_array_equal(
        item['data_samples']['source'].gt_sem_seg.data[0], CS_TRAIN)
    os.remove(out / '00001.png')
    with pytest.raises(DataCheckError, match='00001.png'):
        DATASETS.build(cfg(roots, translated_source_dir=str(out)))


def test_pseudo_labels_and_soft_weights(roots, tmp_path):
    label = np.full((6, 8), 255, np.uint8)
    label[:3] = 13
    weight = np.zeros((6, 8), np.uint8)
    weight[:3] = 204
    pl = str(tmp_path / 'pl')
    write_pseudo(pl, label, weight)
    ds = DATASETS.build(cfg(roots, pseudo_label_dir=pl, seed=0))
    sample = ds[0]['data_samples']['target']
    np.testing.assert_array_equal(sample.gt_sem_seg.data[0], label)
    w = sample.gt_seg_weight.data
    assert w.dtype == torch.float32 and w.shape == (1, 6, 8)
    assert torch.allclose(w[0, :3], torch.full((3, 8), 0.8))
    assert torch.all(w[0, 3:] == 0)
    # hard labels only
    pl2 = str(tmp_path / 'pl2')
    write_pseudo(pl2, label)
    sample = DATASETS.build(cfg(roots, pseudo_label_dir=pl2))[1][
        'data_samples']['target']
    assert 'gt_sem_seg' in sample and 'gt_seg_weight' not in sample


def test_pseudo_label_problems_are_clear(roots, tmp_path):
    pl = str(tmp_path / 'pl')
    with pytest.raises(FileNotFoundError, match='pseudo-label'):
        DATASETS.build(cfg(roots, pseudo_label_dir=pl))
    write_pseudo(pl, np.zeros((6, 8), np.uint8))
    os.remove(osp.join(pl, 'aachen', 'aachen_000000_000001_leftImg8bit.png'))
    with pytest.raises(DataCheckError,
                       match='aachen_000000_000001_leftImg8bit.png'):
        DATASETS.build(cfg(roots, pseudo_label_dir=pl))
    # a pipeline that does not load them
    write_pseudo(pl, np.zeros((6, 8), np.uint8))
    c = cfg(roots, pseudo_label_dir=pl)
    c['target']['pipeline'] = [dict(type='LoadImageFromFile'),
                               dict(type='PackSegInputs')]
    with pytest.raises(ValueError, match='LoadPseudoLabel'):
        DATASETS.build(c)[0]


def test_class_mismatch_is_refused(roots):
    c = cfg(roots)
    c['target']['metainfo'] = dict(classes=('road', 'sidewalk'))
    with pytest.raises(ValueError, match='same classes'):
        DATASETS.build(c)
