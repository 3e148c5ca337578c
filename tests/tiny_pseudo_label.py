"""Tiny target sets and segmentors for the pseudo-labelling tests.

Images are written in Cityscapes' layout (``<root>/leftImg8bit/train/<city>/
<name>_leftImg8bit.png`` with ``gtFine/train/<city>/
<name>_gtFine_labelTrainIds.png`` labels) into temporary folders.
"""
import os
import os.path as osp
import textwrap
from typing import Dict, List, Optional

import numpy as np
import torch
from PIL import Image

CLASSES = ('road', 'car', 'sky')
PALETTE = [[128, 64, 128], [0, 0, 142], [70, 130, 180]]
IMG_SUFFIX = '_leftImg8bit.png'
SEG_SUFFIX = '_gtFine_labelTrainIds.png'


def write_target_set(root: str, num_images: int = 4, height: int = 32,
                     width: int = 64, seed: int = 0,
                     labels: bool = True) -> List[str]:
    """Write a tiny Cityscapes-like target set.

    Args:
        root (str): Data root.
        num_images (int): Images (split over two cities). Defaults to 4.
        height (int): Image height. Defaults to 32.
        width (int): Image width. Defaults to 64.
        seed (int): Random seed. Defaults to 0.
        labels (bool): Also write train-id labels. Defaults to True.

    Returns:
        list[str]: Relative names without extension, e.g.
        ``cityA/cityA_000000_leftImg8bit``.
    """
    rng = np.random.default_rng(seed)
    colours = np.array(PALETTE, np.uint8)
    rels = []
    for n in range(num_images):
        city = 'cityA' if n % 2 == 0 else 'cityB'
        name = f'{city}_{n:06d}'
        label = np.zeros((height, width), np.uint8)
        label[:height // 3] = 2
        x = int(rng.integers(0, width // 2))
        label[height // 2:, x:x + width // 4] = 1
        label[0, :3] = 255
        img = colours[np.minimum(label, 2)].astype(np.int16)
        img += rng.integers(-40, 40, img.shape).astype(np.int16)
        img = np.clip(img, 0, 255).astype(np.uint8)
        img_dir = osp.join(root, 'leftImg8bit', 'train', city)
        os.makedirs(img_dir, exist_ok=True)
        Image.fromarray(img).save(osp.join(img_dir, name + IMG_SUFFIX))
        if labels:
            ann_dir = osp.join(root, 'gtFine', 'train', city)
            os.makedirs(ann_dir, exist_ok=True)
            Image.fromarray(label).save(osp.join(ann_dir, name + SEG_SUFFIX))
        rels.append(f'{city}/{name}_leftImg8bit')
    return sorted(rels)


def target_dataset_cfg(root: str, labels: bool = True,
                       scale: Optional[tuple] = None,
                       classes=CLASSES) -> Dict:
    """Config of the target training set (BaseSegDataset, Cityscapes names).

    Args:
        root (str): Data root from :func:`write_target_set`.
        labels (bool): Load labels (statistics only). Defaults to True.
        scale (tuple, optional): ``(w, h)`` Resize. Defaults to None.
        classes (tuple): Class names. Defaults to :data:`CLASSES`.

    Returns:
        dict: Dataset config.
    """
    pipeline = [dict(type='LoadImageFromFile')]
    if labels:
        pipeline.append(dict(type='LoadAnnotations'))
    if scale is not None:
        pipeline.append(dict(type='Resize', scale=scale, keep_ratio=False))
    pipeline.append(dict(type='PackSegInputs'))
    prefix = dict(img_path='leftImg8bit/train')
    if labels:
        prefix['seg_map_path'] = 'gtFine/train'
    return dict(type='BaseSegDataset', data_root=root,
                metainfo=dict(classes=tuple(classes),
                              palette=PALETTE[:len(classes)] +
                              [[0, 0, 0]] * max(0, len(classes) - 3)),
                img_suffix=IMG_SUFFIX, seg_map_suffix=SEG_SUFFIX,
                data_prefix=prefix, pipeline=pipeline)


def segmentor_cfg(num_classes: int = 3) -> Dict:
    """A tiny EncoderDecoder with 1/8-resolution logits (like DeepLabV2)."""
    return dict(
        type='EncoderDecoder',
        data_preprocessor=dict(
            type='SegDataPreProcessor', mean=[104.0, 116.7, 122.7],
            std=[1.0, 1.0, 1.0], bgr_to_rgb=False, pad_val=0,
            seg_pad_val=255),
        backbone=dict(
            type='ResNetV1c', depth=18, num_stages=2, out_indices=(1, ),
            stem_channels=8, base_channels=8, strides=(1, 2),
            dilations=(1, 1), norm_cfg=dict(type='BN', requires_grad=True)),
        decode_head=dict(
            type='FCNHead', in_channels=16, in_index=0, channels=8,
            num_convs=1, num_classes=num_classes, concat_input=False,
            align_corners=True, norm_cfg=dict(type='BN', requires_grad=True),
            loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
        train_cfg=dict(), test_cfg=dict(mode='whole'))


def build_segmentor(num_classes: int = 3, seed: int = 0,
                    sharpness: float = 20.0) -> torch.nn.Module:
    """Build the tiny segmentor with deterministic, fairly confident weights.

    Args:
        num_classes (int): Output classes. Defaults to 3.
        seed (int): Weight seed. Defaults to 0.
        sharpness (float): Scale of the classifier weights (spreads the
            confidences over (1/C, 1)). Defaults to 20.

    Returns:
        nn.Module: The segmentor in eval mode.
    """
    from mmbdl.registry import MODELS
    torch.manual_seed(seed)
    model = MODELS.build(segmentor_cfg(num_classes))
    with torch.no_grad():
        model.decode_head.conv_seg.weight.mul_(sharpness)
    return model.eval()


def config_text(root: str, num_classes: int = 3, extra: str = '') -> str:
    """A leaf config for the tools: tiny segmentor + target dataloader."""
    text = f'''
    default_scope = 'mmbdl'
    model = {segmentor_cfg(num_classes)!r}
    pseudo_label_dataloader = dict(
        batch_size=1, num_workers=0,
        dataset={target_dataset_cfg(root)!r})
    '''
    return textwrap.dedent(text) + textwrap.dedent(extra)
