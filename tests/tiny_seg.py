"""Tiny synthetic segmentation data and configs shared by the tool tests.

Everything is written into a temporary directory by the tests themselves.
"""
import os
import os.path as osp
import textwrap

import numpy as np
from PIL import Image

TINY_CLASSES = ('background', 'square', 'stripe')


def write_tiny_seg_dataset(root: str, num_train: int = 4, num_val: int = 2,
                           size: int = 32, seed: int = 0) -> str:
    """Write a tiny 3-class data set in MMSegmentation's folder layout.

    Images are ``img_dir/{split}/{i}.png`` (RGB) and labels
    ``ann_dir/{split}/{i}.png`` (uint8 class ids); the classes are drawn
    so that they are learnable from colour.

    Args:
        root (str): Output directory.
        num_train (int): Training images. Defaults to 4.
        num_val (int): Validation images. Defaults to 2.
        size (int): Image side. Defaults to 32.
        seed (int): Random seed. Defaults to 0.

    Returns:
        str: ``root``.
    """
    rng = np.random.default_rng(seed)
    colours = np.array([[20, 20, 20], [220, 40, 40], [40, 40, 220]], np.uint8)
    for split, count in (('train', num_train), ('val', num_val)):
        os.makedirs(osp.join(root, 'img_dir', split), exist_ok=True)
        os.makedirs(osp.join(root, 'ann_dir', split), exist_ok=True)
        for i in range(count):
            label = np.zeros((size, size), np.uint8)
            x, y = rng.integers(0, size // 2, 2)
            label[y:y + size // 3, x:x + size // 3] = 1
            label[:, int(rng.integers(0, size - 4)):][:, :3] = 2
            img = colours[label] + rng.integers(0, 20, (size, size, 3),
                                                dtype=np.uint8)
            Image.fromarray(img).save(osp.join(root, 'img_dir', split,
                                               f'{i}.png'))
            Image.fromarray(label).save(osp.join(root, 'ann_dir', split,
                                                 f'{i}.png'))
    return root


def tiny_seg_config(data_root: str, max_iters: int = 4, extra: str = '',
                    runtime: str = 'default_runtime.py') -> str:
    """Return the text of a tiny EncoderDecoder config built of mmseg parts.

    Args:
        data_root (str): Directory written by :func:`write_tiny_seg_dataset`.
        max_iters (int): Training iterations. Defaults to 4.
        extra (str): Config lines appended at the end. Defaults to ''.
        runtime (str): Base runtime config under ``configs/_base_``.
            Defaults to 'default_runtime.py'.

    Returns:
        str: Python config text (``default_scope = 'mmbdl'``).
    """
    runtime = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                       'configs', '_base_', runtime)
    text = f'''
    _base_ = [{runtime!r}]
    randomness = dict(seed=0)
    data_root = {data_root!r}
    metainfo = dict(classes={TINY_CLASSES!r},
                    palette=[[0, 0, 0], [255, 0, 0], [0, 0, 255]])
    data_preprocessor = dict(
        type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
        seg_pad_val=255, size=(32, 32))
    model = dict(
        type='EncoderDecoder',
        data_preprocessor=data_preprocessor,
        backbone=dict(
            type='ResNetV1c', depth=18, num_stages=2, out_indices=(1, ),
            stem_channels=8, base_channels=8, strides=(1, 2),
            dilations=(1, 1), norm_cfg=dict(type='BN', requires_grad=True)),
        decode_head=dict(
            type='FCNHead', in_channels=16, in_index=0, channels=8,
            num_convs=1, num_classes=3, concat_input=False,
            norm_cfg=dict(type='BN', requires_grad=True),
            loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
        train_cfg=dict(), test_cfg=dict(mode='whole'))
    train_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations'),
        dict(type='PackSegInputs'),
    ]
    test_pipeline = train_pipeline
    train_dataloader = dict(
        batch_size=2, num_workers=0, persistent_workers=False,
        sampler=dict(type='InfiniteSampler', shuffle=True),
        dataset=dict(type='BaseSegDataset', data_root=data_root,
                     metainfo=metainfo, img_suffix='.png',
                     seg_map_suffix='.png',
                     data_prefix=dict(img_path='img_dir/train',
                                      seg_map_path='ann_dir/train'),
                     pipeline=train_pipeline))
    val_dataloader = dict(
        batch_size=1, num_workers=0, persistent_workers=False,
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(type='BaseSegDataset', data_root=data_root,
                     metainfo=metainfo, img_suffix='.png',
                     seg_map_suffix='.png',
                     data_prefix=dict(img_path='img_dir/val',
                                      seg_map_path='ann_dir/val'),
                     pipeline=test_pipeline))
    test_dataloader = val_dataloader
    val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
    test_evaluator = val_evaluator
    optim_wrapper = dict(type='OptimWrapper',
                         optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
    param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=0.0,
                            begin=0, end={max_iters}, by_epoch=False)]
    train_cfg = dict(type='IterBasedTrainLoop', max_iters={max_iters},
                     val_interval={max_iters})
    val_cfg = dict(type='ValLoop')
    test_cfg = dict(type='TestLoop')
    default_hooks = dict(
        timer=dict(type='IterTimerHook'),
        logger=dict(type='LoggerHook', interval=1, log_metric_by_epoch=False),
        param_scheduler=dict(type='ParamSchedulerHook'),
        checkpoint=dict(type='CheckpointHook', by_epoch=False,
                        interval={max_iters} // 2),
        sampler_seed=dict(type='DistSamplerSeedHook'),
        visualization=dict(type='SegVisualizationHook'))
    env_cfg = dict(cudnn_benchmark=False,
                   mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
                   dist_cfg=dict(backend='gloo'))
    '''
    return textwrap.dedent(text) + textwrap.dedent(extra)
