"""BDLSegTTAModel: the mean of the views' probabilities, no second softmax."""
import copy

import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.config import ConfigDict
from mmengine.dataset import pseudo_collate
from PIL import Image

from mmbdl.registry import MODELS

PREPROCESSOR = dict(type='SegDataPreProcessor', mean=[120.0, 110.0, 100.0],
                    std=[60.0, 60.0, 60.0], bgr_to_rgb=True, pad_val=0,
                    seg_pad_val=255)


def seg_cfg(kind='BDLEncoderDecoder'):
    cfg = dict(
        type=kind,
        data_preprocessor=PREPROCESSOR,
        backbone=dict(
            type='ResNetV1c', depth=18, num_stages=2, out_indices=(1, ),
            stem_channels=8, base_channels=8, strides=(1, 2),
            dilations=(1, 1), norm_cfg=dict(type='BN', requires_grad=True)),
        decode_head=dict(
            type='FCNHead', in_channels=16, in_index=0, channels=8,
            num_convs=1, num_classes=4, concat_input=False,
            dropout_ratio=0.0, align_corners=True,
            norm_cfg=dict(type='BN', requires_grad=True),
            loss_decode=dict(type='CrossEntropyLoss')),
        train_cfg=dict(), test_cfg=dict(mode='whole'))
    if kind == 'BDLEncoderDecoder':
        cfg['resize_probs'] = True
    return ConfigDict(cfg)  # as Config.fromfile gives it


def flip_equivariant(model):
    """Make every conv kernel left-right symmetric: with odd widths at every
    stride the network then commutes with a horizontal flip."""
    torch.manual_seed(0)
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            fan_in = module.weight[0].numel()
            torch.nn.init.normal_(module.weight, std=fan_in**-0.5)
            with torch.no_grad():
                module.weight.copy_(
                    (module.weight + module.weight.flip(-1)) / 2)
    return model.eval()


def write_image(path, symmetric=False, h=17, w=33, seed=0):
    img = np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8)
    if symmetric:
        img = np.concatenate([img[:, :w // 2 + 1],
                              img[:, :w // 2][:, ::-1]], axis=1)
        assert (img == img[:, ::-1]).all()
    Image.fromarray(img).save(path)
    return str(path)


def views_data(img_path, scales, flips):
    pipeline = Compose([
        dict(type='LoadImageFromFile'),
        dict(type='TestTimeAug', transforms=[
            [dict(type='Resize', scale_factor=s, keep_ratio=True)
             for s in scales],
            [dict(type='RandomFlip', prob=float(f), direction='horizontal')
             for f in flips],
            [dict(type='PackSegInputs')]])])
    return pseudo_collate([pipeline(dict(img_path=img_path))])


def plain_data(img_path):
    pipeline = Compose([dict(type='LoadImageFromFile'),
                        dict(type='PackSegInputs')])
    return pseudo_collate([pipeline(dict(img_path=img_path))])


def test_merged_probabilities_are_the_mean_of_the_views(tmp_path):
    img = write_image(tmp_path / 'a.png')
    tta = MODELS.build(dict(type='BDLSegTTAModel', module=seg_cfg()))
    tta.eval()
    data = views_data(img, scales=(0.5, 1.0, 1.5), flips=(False, True))
    with torch.no_grad():
        merged = tta.test_step(copy.deepcopy(data))[0]
        # by hand: every view alone through the segmentor
        per_view = []
        for inputs, samples in zip(data['inputs'], data['data_samples']):
            out = tta.module.test_step(
                dict(inputs=inputs, data_samples=samples))[0]
            per_view.append(out.seg_logits.data)
    assert len(per_view) == 6
    probs = torch.stack(per_view)
    # BDLEncoderDecoder already returns probabilities at the image size
    assert probs.shape == (6, 4, 17, 33)
    torch.testing.assert_close(probs.sum(1), torch.ones(6, 17, 33))
    torch.testing.assert_close(merged.seg_logits.data, probs.mean(0))
    assert torch.equal(merged.pred_sem_seg.data[0], probs.mean(0).argmax(0))
    # a second softmax (SegTTAModel's) would give other numbers
    assert not torch.allclose(merged.seg_logits.data,
                              probs.softmax(1).mean(0))
    assert merged.img_path == img


def test_logits_of_other_segmentors_get_the_softmax(tmp_path):
    img = write_image(tmp_path / 'a.png')
    tta = MODELS.build(dict(type='BDLSegTTAModel',
                            module=seg_cfg('EncoderDecoder'))).eval()
    data = views_data(img, scales=(1.0, ), flips=(False, True))
    with torch.no_grad():
        merged = tta.test_step(copy.deepcopy(data))[0]
        logits = [tta.module.test_step(dict(inputs=i, data_samples=s))[0]
                  .seg_logits.data
                  for i, s in zip(data['inputs'], data['data_samples'])]
    torch.testing.assert_close(merged.seg_logits.data,
                               torch.stack(logits).softmax(1).mean(0))


@pytest.mark.parametrize('symmetric', [True, False])
def test_flip_tta_gives_the_plain_prediction(tmp_path, symmetric):
    """A flip-equivariant M: flip-TTA must reproduce the plain prediction.

    On a left-right symmetric image the flipped view is the image itself;
    on any image a view that is not flipped back would differ.
    """
    img = write_image(tmp_path / 'a.png', symmetric=symmetric)
    # wrapped as in a BDL config: AdvSelfTrainingSegmentor around M
    module = dict(
        type='AdvSelfTrainingSegmentor', segmentor=seg_cfg(),
        discriminator=dict(type='FCDiscriminator', num_classes=4,
                           base_channels=4),
        data_preprocessor=dict(type='UDADataPreProcessor',
                               source=PREPROCESSOR, target=PREPROCESSOR))
    tta = MODELS.build(dict(type='BDLSegTTAModel', module=module)).eval()
    flip_equivariant(tta.module.segmentor)
    # hooks that look for M find it through the TTA model
    from mmbdl.utils import get_inference_segmentor
    assert get_inference_segmentor(tta) is tta.module.segmentor
    with torch.no_grad():
        plain = tta.module.test_step(plain_data(img))[0]
        merged = tta.test_step(
            views_data(img, scales=(1.0, ), flips=(False, True)))[0]
    probs = plain.seg_logits.data
    if symmetric:
        torch.testing.assert_close(probs, probs.flip(-1))
    else:
        # so a flipped view that is not flipped back would change the mean
        assert not torch.allclose(probs, probs.flip(-1), atol=1e-3)
    torch.testing.assert_close(merged.seg_logits.data, plain.seg_logits.data)
    assert torch.equal(merged.pred_sem_seg.data, plain.pred_sem_seg.data)
    # the probabilities are not trivially constant over the image
    assert plain.seg_logits.data.flatten(1).std(1).max() > 1e-3


def test_views_of_different_sizes_are_refused():
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    tta = MODELS.build(dict(type='BDLSegTTAModel', module=seg_cfg()))
    views = []
    for size in ((4, 5), (4, 6)):
        s = SegDataSample(seg_logits=PixelData(data=torch.rand(4, *size)))
        s.set_metainfo(dict(img_path='x.png'))
        views.append(s)
    with pytest.raises(ValueError, match='x.png.*different sizes'):
        tta.merge_preds([views])
