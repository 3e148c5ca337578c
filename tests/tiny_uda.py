"""Tiny UDA segmentors and batches shared by the segmentor tests."""
import torch
from mmengine.config import ConfigDict
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

NUM_CLASSES = 3


def tiny_segmentor_cfg(num_classes: int = NUM_CLASSES, **head) -> dict:
    """A DeepLab-v2 shaped EncoderDecoder small enough for CPU tests."""
    head_cfg = dict(
        type='DeepLabV2Head', in_channels=32, num_classes=num_classes,
        dilations=(1, 2), align_corners=True,
        loss_decode=dict(type='CrossEntropyLoss', avg_non_ignore=True))
    head_cfg.update(head)
    return dict(
        type='BDLEncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[0, 0, 0],
                               std=[1, 1, 1]),
        backbone=dict(type='DeepLabV2ResNet', depth=18, base_channels=4,
                      stem_channels=4, style='pytorch'),
        decode_head=head_cfg,
        train_cfg=dict(),
        test_cfg=ConfigDict(mode='whole'))


def tiny_uda_cfg(num_classes: int = NUM_CLASSES, **uda) -> dict:
    """An AdvSelfTrainingSegmentor config on already-normalised batches."""
    return dict(
        type='AdvSelfTrainingSegmentor',
        segmentor=tiny_segmentor_cfg(num_classes),
        discriminator=dict(type='FCDiscriminator', base_channels=4),
        data_preprocessor=dict(type='BaseDataPreprocessor'),
        uda_cfg=dict(uda))


def _sample(hw, label=None, weight=None, name='img.png') -> SegDataSample:
    sample = SegDataSample(metainfo=dict(
        img_shape=hw, ori_shape=hw, img_path=name, seg_map_path=name,
        padding_size=[0, 0, 0, 0]))
    if label is not None:
        sample.gt_sem_seg = PixelData(data=label)
    if weight is not None:
        sample.gt_seg_weight = PixelData(data=weight)
    return sample


def uda_batch(n: int = 1, src_hw=(32, 48), tgt_hw=(32, 32),
              num_classes: int = NUM_CLASSES, pseudo: bool = False,
              weights: bool = False, seed: int = 0) -> dict:
    """A pre-processed UDA batch (what UDADataPreProcessor returns)."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randn(n, 3, *src_hw, generator=g)
    tgt = torch.randn(n, 3, *tgt_hw, generator=g)
    src_samples = [
        _sample(src_hw, torch.randint(0, num_classes, (1, *src_hw),
                                      generator=g), name=f'src_{i}.png')
        for i in range(n)
    ]
    tgt_samples = []
    for i in range(n):
        label = weight = None
        if pseudo:
            label = torch.randint(0, num_classes, (1, *tgt_hw), generator=g)
            label[:, :tgt_hw[0] // 4] = 255  # some ignored pixels
        if weights:
            weight = torch.rand(1, *tgt_hw, generator=g)
        tgt_samples.append(_sample(tgt_hw, label, weight, f'tgt_{i}.png'))
    return dict(inputs=dict(source=src, target=tgt),
                data_samples=dict(source=src_samples, target=tgt_samples))
