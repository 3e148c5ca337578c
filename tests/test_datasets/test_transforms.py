"""BDL transforms: pseudo-label loading, packing with weights, width resize."""

import numpy as np
import pytest
import torch
from PIL import Image

from mmbdl.registry import TRANSFORMS


def test_load_pseudo_label_resizes_to_image_and_checks_ids(tmp_path):
    label = np.array([[1, 255], [2, 3]], np.uint8)
    Image.fromarray(label).save(tmp_path / 'a.png')
    Image.fromarray(np.array([[255, 0], [51, 102]], np.uint8)).save(
        tmp_path / 'a.weight.png')
    load = TRANSFORMS.build(dict(type='LoadPseudoLabel', num_classes=19))
    res = load(dict(img=np.zeros((4, 4, 3), np.uint8),
                    pseudo_label_path=str(tmp_path / 'a.png'),
                    pseudo_weight_path=str(tmp_path / 'a.weight.png')))
    np.testing.assert_array_equal(res['gt_seg_map'][::2, ::2], label)
    assert res['gt_seg_map'].shape == (4, 4)
    assert res['gt_seg_weight'].shape == (4, 4)
    assert res['gt_seg_weight'].max() <= 1.0 and 'gt_seg_map' in res[
        'seg_fields']
    # no path: nothing happens (target rounds without pseudo-labels)
    assert 'gt_seg_map' not in load(dict(img=np.zeros((2, 2, 3))))
    Image.fromarray(np.array([[40]], np.uint8)).save(tmp_path / 'b.png')
    with pytest.raises(ValueError, match=r'b.png.*\[40\]'):
        load(dict(pseudo_label_path=str(tmp_path / 'b.png')))
    with pytest.raises(OSError, match='missing.png'):
        load(dict(pseudo_label_path=str(tmp_path / 'missing.png')))


def test_pack_bdl_seg_inputs_packs_weight():
    pack = TRANSFORMS.build(dict(type='PackBDLSegInputs'))
    res = dict(img=np.zeros((2, 3, 3), np.uint8),
               gt_seg_map=np.ones((2, 3), np.uint8),
               gt_seg_weight=np.full((2, 3), 0.5, np.float32),
               img_path='x.png')
    out = pack(dict(res))
    weight = out['data_samples'].gt_seg_weight.data
    assert weight.shape == (1, 2, 3) and weight.dtype == torch.float32
    assert out['data_samples'].gt_sem_seg.data.shape == (1, 2, 3)
    res['gt_seg_weight'] = np.ones((3, 3), np.float32)
    with pytest.raises(ValueError, match='geometric'):
        pack(res)


def test_resize_width_keeps_aspect_per_key():
    resize = TRANSFORMS.build(dict(type='ResizeWidth',
                                   keys=['img_source', 'img_target'],
                                   width=100))
    out = resize(dict(img_source=np.zeros((1052, 1914, 3), np.uint8),
                      img_target=np.zeros((1024, 2048, 3), np.uint8)))
    # int(1024 * h / w) as CycleGAN's scale_width
    assert out['img_source'].shape == (54, 100, 3)
    assert out['img_target'].shape == (50, 100, 3)
    assert out['img_target_shape'] == (50, 100, 3)
