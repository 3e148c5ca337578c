"""The VFM-UDA release's data recipe: border ignore mask, the transforms
that carry it, the packed ``ignore_mask`` and the 1024x1024 UDA config."""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
from data_fixtures import (CS_IDS, save_palette_label, save_rgb,
                           write_cityscapes)
from mmcv.transforms import Pad as MMCVPad
from mmcv.transforms import RandomFlip as MMCVRandomFlip
from mmcv.transforms import Resize as MMCVResize
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.structures import PixelData

from mmbdl.datasets import UDADataset
from mmbdl.datasets.converters import convert_cityscapes, convert_gta5
from mmbdl.datasets.transforms import (BorderIgnoreMask, SegFieldsPad,
                                       SegFieldsRandomFlip,
                                       SegFieldsRandomResize,
                                       border_ignore_mask)
from mmbdl.registry import DATASETS, TRANSFORMS
from mmbdl.utils.errors import ConfigCheckError

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', '_base_', 'datasets',
                  'vfm-uda_gta5-to-cityscapes-1024x1024.py')
GTA5_HW = (1052, 1914)
CS_HW = (1024, 2048)


@pytest.fixture(scope='module')
def cfg():
    return Config.fromfile(CONFIG)


def release_mask(h, w, top=0.03, bottom=0.25, left=0.03, right=0.03):
    """The release's UDATransform mask, written out."""
    mask = np.zeros((h, w), dtype=np.uint8)
    mask[:int(top * h)] = 255
    mask[-int(bottom * h):] = 255
    mask[:, :int(left * w)] = 255
    mask[:, -int(right * w):] = 255
    return mask


def _steps(pipeline, *types):
    return [copy.deepcopy(t) for t in pipeline if t['type'] in types]


def test_border_mask_is_the_releases():
    for h, w in ((1024, 2048), (100, 200), (37, 53)):
        mask = border_ignore_mask(h, w)
        assert mask.dtype == np.uint8 and mask.shape == (h, w)
        np.testing.assert_array_equal(mask, release_mask(h, w))
    mask = border_ignore_mask(100, 200)
    assert (mask[:3] == 255).all() and (mask[3:75, 6:194] == 0).all()
    assert (mask[75:] == 255).all() and (mask[:, 194:] == 255).all()
    # a border of 0 pixels ignores nothing (the release's mask[-0:] would
    # cover the whole image)
    assert not border_ignore_mask(10, 10, 0.0, 0.0, 0.0, 0.0).any()
    results = BorderIgnoreMask()(dict(img=np.zeros((100, 200, 3), np.uint8),
                                      seg_fields=['gt_seg_map']))
    np.testing.assert_array_equal(results['gt_ignore_mask'], mask)
    assert results['seg_fields'] == ['gt_seg_map', 'gt_ignore_mask']
    with pytest.raises(ConfigCheckError, match='bottom must be'):
        BorderIgnoreMask(bottom=1.2)
    with pytest.raises(ConfigCheckError, match='top \\+ bottom'):
        BorderIgnoreMask(top=0.5, bottom=0.5)


def test_gta5_short_side_is_1440_times_0_9_to_1_1(cfg):
    (resize, ) = _steps(cfg.gta5_train_pipeline, 'RandomResize')
    assert resize.ratio_range == (0.9, 1.1)  # the release's
    assert resize.scale[1] == 1440 and resize.keep_ratio
    resize = TRANSFORMS.build(resize)
    h, w = GTA5_HW
    shorts = []
    np.random.seed(0)
    for _ in range(8):
        out = resize(dict(img=np.zeros((h, w, 3), np.uint8),
                          gt_seg_map=np.zeros((h, w), np.uint8),
                          seg_fields=['gt_seg_map']))
        oh, ow = out['img'].shape[:2]
        assert out['gt_seg_map'].shape == (oh, ow)
        assert 1296 <= oh <= 1584, oh  # the short side sets the scale
        assert ow / oh == pytest.approx(w / h, rel=2e-3)
        shorts.append(oh)
    assert max(shorts) - min(shorts) > 50  # the ratio is drawn


def test_ignore_mask_follows_resize_crop_pad_flip(cfg):
    """The target pipeline's geometric steps move the mask with the image:
    channel 0 of the test image is the mask itself, channel 1 marks image
    pixels (nearest resizing keeps both exact)."""
    steps = _steps(cfg.cityscapes_target_pipeline, 'BorderIgnoreMask',
                   'SegFieldsRandomResize', 'RandomCrop', 'SegFieldsPad',
                   'SegFieldsRandomFlip')
    assert [s['type'] for s in steps] == [
        'BorderIgnoreMask', 'SegFieldsRandomResize', 'RandomCrop',
        'SegFieldsPad', 'SegFieldsRandomFlip']
    steps[1]['interpolation'] = 'nearest'
    steps = [TRANSFORMS.build(s) for s in steps]
    h, w = CS_HW
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = release_mask(h, w)
    img[..., 1] = 1
    img[..., 2] = (np.arange(w) * 200 // w)[None]  # x, to see flips
    np.random.seed(1)
    flips, padded = set(), set()
    for _ in range(8):
        results = dict(img=img.copy(), img_shape=(h, w), ori_shape=(h, w),
                       seg_fields=[])
        for step in steps:
            results = step(results)
        mask, out = results['gt_ignore_mask'], results['img']
        assert out.shape == (1024, 1024, 3) and mask.shape == (1024, 1024)
        assert mask.dtype == np.uint8
        pad = out[..., 1] == 0
        np.testing.assert_array_equal(mask[~pad], out[..., 0][~pad])
        assert (mask[pad] == 255).all()  # the release pads with 255
        flips.add(bool(results['flip']))
        padded.add(bool(pad.any()))
        # the bottom 25% is inside every crop: the last image row
        last = np.nonzero(~pad[:, 512])[0].max()
        assert (mask[last] == 255).all() and not mask[300, 400:600].any()
        x = out[300, :, 2].astype(int)
        assert (np.diff(x) <= 0).all() if results['flip'] else \
            (np.diff(x) >= 0).all()
    assert flips == {True, False} and padded == {True, False}


def test_seg_fields_variants_carry_the_mask_whatever_the_scope():
    """MMCV's Resize / RandomFlip / Pad (what the type names resolve to
    outside the mmseg / mmbdl scope, and RandomResize's inner Resize there)
    move only gt_seg_map; the SegFields* variants move every map."""
    mask = border_ignore_mask(8, 12, 0.25, 0.25, 0.25, 0.0)
    base = dict(img=np.zeros((8, 12, 3), np.uint8), gt_ignore_mask=mask,
                seg_fields=['gt_ignore_mask'])
    for flip, expected in ((MMCVRandomFlip(prob=1.0), mask),
                           (SegFieldsRandomFlip(prob=1.0), mask[:, ::-1])):
        out = flip(copy.deepcopy(base))
        np.testing.assert_array_equal(out['gt_ignore_mask'], expected)
    for resize, shape in ((MMCVResize(scale=(6, 4), keep_ratio=True),
                           (8, 12)),
                          (SegFieldsRandomResize(
                              scale=(6, 4), ratio_range=(1.0, 1.0),
                              keep_ratio=True), (4, 6))):
        out = resize(copy.deepcopy(base))
        assert out['img'].shape[:2] == (4, 6)
        assert out['gt_ignore_mask'].shape == shape
    np.testing.assert_array_equal(out['gt_ignore_mask'], mask[::2, ::2])
    for pad, shape in ((MMCVPad(size=(12, 10)), (8, 12)),
                       (SegFieldsPad(size=(12, 10)), (10, 12))):
        out = pad(copy.deepcopy(base))
        assert out['img'].shape[:2] == (10, 12)
        assert out['gt_ignore_mask'].shape == shape
    assert (out['gt_ignore_mask'][8:] == 255).all()


def test_pack_refuses_a_mask_left_behind():
    pack = TRANSFORMS.build(dict(type='PackSegInputsWithIgnoreMask'))
    results = dict(img=np.zeros((4, 6, 3), np.uint8),
                   gt_ignore_mask=np.zeros((5, 6), np.uint8))
    with pytest.raises(ConfigCheckError, match='SegFieldsRandomResize'):
        pack(results)
    results['gt_ignore_mask'] = border_ignore_mask(4, 6, 0.25, 0.25)
    sample = pack(results)['data_samples']
    assert isinstance(sample.ignore_mask, PixelData)
    assert sample.ignore_mask.data.dtype == torch.uint8
    np.testing.assert_array_equal(sample.ignore_mask.data[0].numpy(),
                                  results['gt_ignore_mask'])


def test_config_pins_the_releases_numbers(cfg):
    loader = cfg.train_dataloader
    assert loader.batch_size == 8
    assert loader.sampler.type == 'InfiniteSampler'
    ds = loader.dataset
    assert ds.type == 'UDADataset'
    assert ds.source.type == 'GTA5Dataset'
    assert ds.target.type == 'CityscapesDataset'
    assert ds.rare_class_sampling == dict(temperature=0.05, min_pixels=3000,
                                          min_crop_ratio=2.0)
    assert cfg.crop_size == (1024, 1024)
    crop = _steps(ds.source.pipeline, 'RandomCrop')[0]
    assert (crop.crop_size, crop.cat_max_ratio) == ((1024, 1024), 0.75)
    tgt = ds.target.pipeline
    mask = _steps(tgt, 'BorderIgnoreMask')[0]
    assert (mask.top, mask.bottom, mask.left, mask.right) == (
        0.03, 0.25, 0.03, 0.03)
    assert [t.type for t in tgt][:2] == ['LoadImageFromFile',
                                         'BorderIgnoreMask']
    resize = _steps(tgt, 'SegFieldsRandomResize')[0]
    assert resize.scale[1] == 1024 and resize.ratio_range == (0.9, 1.1)
    assert _steps(tgt, 'RandomCrop')[0].cat_max_ratio == 1.0
    assert [_steps(p, 'RandomFlip', 'SegFieldsRandomFlip')[0].prob
            for p in (ds.source.pipeline, tgt)] == [0.5, 0.5]
    assert tgt[-1].type == 'PackSegInputsWithIgnoreMask'
    val = cfg.val_dataloader.dataset
    assert val.data_prefix.img_path == 'leftImg8bit/val'
    assert [t.type for t in val.pipeline] == [
        'LoadImageFromFile', 'Resize', 'LoadAnnotations', 'PackSegInputs']
    assert val.pipeline[1].scale == (2048, 1024) and val.pipeline[1].keep_ratio
    assert cfg.test_dataloader == cfg.val_dataloader
    assert cfg.val_evaluator.type == 'BDLIoUMetric'


@pytest.fixture(scope='module')
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp('vfm')
    src = str(base / 'gta5')
    ids = np.resize(CS_IDS, GTA5_HW)
    for i in range(2):
        rng = np.random.default_rng(i)
        save_rgb(rng.integers(0, 256, GTA5_HW + (3, ), dtype=np.uint8),
                 osp.join(src, 'images', f'{i:05d}.png'))
        save_palette_label(ids, osp.join(src, 'labels', f'{i:05d}.png'))
    convert_gta5(src, progress=False)
    tgt = write_cityscapes(str(base / 'cs'), splits=('train', ), n=2,
                           size=CS_HW)
    convert_cityscapes(tgt, splits=('train', ), progress=False)
    return src, tgt


def test_uda_dataset_end_to_end(cfg, roots):
    src, tgt = roots
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    ds_cfg.source.data_root = src
    ds_cfg.target.data_root = tgt
    ds_cfg.seed = 0
    ds = DATASETS.build(ds_cfg)
    assert isinstance(ds, UDADataset) and ds.rcs.temperature == 0.05
    assert ds.rcs_cfg['min_pixels'] * ds.rcs_cfg['min_crop_ratio'] == 6000
    items = [ds[i] for i in range(2)]
    for item in items:
        assert item['inputs']['source'].shape == (3, 1024, 1024)
        assert item['inputs']['target'].shape == (3, 1024, 1024)
        source = item['data_samples']['source']
        assert source.gt_sem_seg.data.shape == (1, 1024, 1024)
        assert int((source.gt_sem_seg.data == source.rcs_class).sum()) > 6000
        target = item['data_samples']['target']
        assert 'gt_sem_seg' not in target
        mask = target.ignore_mask
        assert isinstance(mask, PixelData)
        assert mask.data.shape == (1, 1024, 1024)
        assert mask.data.dtype == torch.uint8
        values = set(torch.unique(mask.data).tolist())
        assert values == {0, 255}
        # the crop holds the bottom border (25% of the scaled image)
        assert (mask.data[0, -1] == 255).all()
        share = float((mask.data == 255).float().mean())
        assert 0.15 <= share < 0.45
    batch = pseudo_collate(items)
    assert [s.ignore_mask.data.shape for s in
            batch['data_samples']['target']] == [(1, 1024, 1024)] * 2
