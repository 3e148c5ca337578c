"""UDADataPreProcessor: one SegDataPreProcessor per branch."""
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmbdl.models.data_preprocessors import UDADataPreProcessor
from mmbdl.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
MEAN = torch.tensor([104.00699, 116.66877, 122.67891]).view(3, 1, 1)


def caffe_cfg():
    return Config.fromfile(osp.join(
        REPO, 'configs/_base_/models/uda_data_preprocessor.py'))


def seg_sample(h, w, label=None, weight=None):
    s = SegDataSample()
    if label is not None:
        s.gt_sem_seg = PixelData(data=torch.full((1, h, w), label))
    if weight is not None:
        s.gt_seg_weight = PixelData(data=torch.full((1, h, w), weight))
    s.set_metainfo(dict(img_shape=(h, w), ori_shape=(h, w)))
    return s


def test_branches_normalised_separately():
    pre = MODELS.build(caffe_cfg().uda_data_preprocessor)
    assert isinstance(pre, UDADataPreProcessor)
    src = [torch.randint(0, 256, (3, 4, 6), dtype=torch.uint8)
           for _ in range(2)]
    tgt = [torch.randint(0, 256, (3, 2, 4), dtype=torch.uint8)
           for _ in range(2)]
    data = dict(inputs=dict(source=src, target=tgt),
                data_samples=dict(
                    source=[seg_sample(4, 6, 1) for _ in range(2)],
                    target=[seg_sample(2, 4) for _ in range(2)]))
    out = pre(data, training=True)
    assert out['inputs']['source'].shape == (2, 3, 4, 6)
    assert out['inputs']['target'].shape == (2, 3, 2, 4)
    # Caffe: BGR kept, BGR mean subtracted, no std division
    torch.testing.assert_close(out['inputs']['source'][1],
                               src[1].float() - MEAN)
    torch.testing.assert_close(out['inputs']['target'][0],
                               tgt[0].float() - MEAN)
    assert out['data_samples']['source'][0].gt_sem_seg.shape == (4, 6)
    assert 'gt_sem_seg' not in out['data_samples']['target'][0]


def test_padding_pads_labels_and_weights():
    cfg = caffe_cfg().seg_data_preprocessor
    pre = UDADataPreProcessor(
        source=cfg, target=dict(cfg, size=(4, 6), size_divisor=None))
    data = dict(
        inputs=dict(source=[torch.zeros(3, 4, 6, dtype=torch.uint8)],
                    target=[torch.zeros(3, 2, 4, dtype=torch.uint8)]),
        data_samples=dict(source=[seg_sample(4, 6, 1)],
                          target=[seg_sample(2, 4, 3, 0.5)]))
    out = pre(data, training=True)
    tgt = out['data_samples']['target'][0]
    assert out['inputs']['target'].shape == (1, 3, 4, 6)
    assert tgt.gt_sem_seg.shape == (4, 6)
    assert tgt.gt_seg_weight.shape == (4, 6)
    assert tgt.gt_sem_seg.data[0, 3, 5] == 255
    assert tgt.gt_seg_weight.data[0, 3, 5] == 0
    assert tgt.gt_seg_weight.data[0, 0, 0] == 0.5


def test_plain_batch_goes_through_target_and_size_default():
    # no size/size_divisor in the branch configs: training still stacks
    plain = dict(type='SegDataPreProcessor', mean=[0., 0., 0.],
                 std=[1., 1., 1.])
    pre = UDADataPreProcessor(
        source=plain, target=dict(plain, mean=[1., 2., 3.]))
    img = torch.full((3, 2, 2), 10, dtype=torch.uint8)
    out = pre(dict(inputs=[img], data_samples=[seg_sample(2, 2, 0)]),
              training=False)
    assert out['inputs'].shape == (1, 3, 2, 2)
    assert torch.allclose(out['inputs'][0, 2], torch.full((2, 2), 7.))
    out = pre(dict(inputs=dict(source=[img, img]),
                   data_samples=dict(source=[seg_sample(2, 2, 0)] * 2)),
              training=True)
    assert out['inputs']['source'].shape == (2, 3, 2, 2)
