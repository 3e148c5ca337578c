"""Tiny translator / segmentor configs and data shared by translator tests.

Generators have 4 filters and 1 residual block, discriminators 2 convs, and
the perceptual segmentor is a 2-stage ResNet-18-style EncoderDecoder with
1/8 output stride and Caffe normalisation (like BDL's DeepLab).
"""
import copy
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmagic.structures import DataSample
from mmengine.optim import OptimWrapper, OptimWrapperDict
from PIL import Image

CAFFE_MEAN = [104.00699, 116.66877, 122.67891]


def tiny_segmentor_cfg(num_classes: int = 3, caffe: bool = True) -> dict:
    """Config of a tiny mmseg EncoderDecoder with 1/8 output stride."""
    if caffe:
        preprocessor = dict(type='SegDataPreProcessor', mean=CAFFE_MEAN,
                            std=[1.0, 1.0, 1.0], bgr_to_rgb=False,
                            pad_val=0, seg_pad_val=255)
    else:
        preprocessor = dict(type='SegDataPreProcessor',
                            mean=[123.675, 116.28, 103.53],
                            std=[58.395, 57.12, 57.375], bgr_to_rgb=True,
                            pad_val=0, seg_pad_val=255)
    return dict(
        type='EncoderDecoder',
        data_preprocessor=preprocessor,
        backbone=dict(
            type='ResNetV1c', depth=18, num_stages=2, out_indices=(1, ),
            stem_channels=8, base_channels=8, strides=(1, 2),
            dilations=(1, 1), norm_cfg=dict(type='BN', requires_grad=True)),
        decode_head=dict(
            type='FCNHead', in_channels=16, in_index=0, channels=8,
            num_convs=1, num_classes=num_classes, concat_input=False,
            norm_cfg=dict(type='BN', requires_grad=True),
            loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
        train_cfg=dict(), test_cfg=dict(mode='whole'))


def tiny_translator_cfg(perceptual: bool = True, **overrides) -> dict:
    """Config of a tiny ``PerceptualCycleGAN`` (or plain with no M)."""
    cfg = dict(
        type='PerceptualCycleGAN',
        data_preprocessor=dict(
            type='mmagic.DataPreprocessor', mean=127.5, std=127.5,
            output_channel_order='RGB',
            data_keys=['img_source', 'img_target']),
        generator=dict(
            type='mmagic.ResnetGenerator', in_channels=3, out_channels=3,
            base_channels=4, norm_cfg=dict(type='IN'), use_dropout=False,
            num_blocks=1, padding_mode='reflect',
            init_cfg=dict(type='normal', gain=0.02)),
        discriminator=dict(
            type='mmagic.PatchDiscriminator', in_channels=3,
            base_channels=4, num_conv=2, norm_cfg=dict(type='IN'),
            init_cfg=dict(type='normal', gain=0.02)),
        default_domain='target',
        reachable_domains=['source', 'target'],
        related_domains=['source', 'target'],
        buffer_size=50,
        loss_config=dict(cycle_loss_weight=10.0, id_loss_weight=5.0),
        perceptual_model=tiny_segmentor_cfg() if perceptual else None,
        perceptual_loss_cfg=dict(loss_type='mse_in', lambda_per=0.1,
                                 lambda_per_recon=10.0),
        num_classes=3)
    cfg.update(copy.deepcopy(overrides))
    return cfg


def build_translator(cfg: dict, seed: int = 0, load_perceptual: bool = True):
    """Build and initialise a translator; give M its own (random) weights.

    Args:
        cfg (dict): Translator config.
        seed (int): Torch seed for the initialisation. Defaults to 0.
        load_perceptual (bool): Mark M as loaded by loading its current
            weights. Defaults to True.
    """
    from mmbdl.registry import MODELS
    torch.manual_seed(seed)
    model = MODELS.build(copy.deepcopy(cfg))
    model.init_weights()
    if load_perceptual and model.perceptual_model is not None:
        model.load_perceptual_weights(model.perceptual_model.state_dict())
    return model


def make_optim(model, lr: float = 2e-4) -> OptimWrapperDict:
    """Adam optim wrappers for generators and discriminators."""
    return OptimWrapperDict(
        generators=OptimWrapper(torch.optim.Adam(
            model.generators.parameters(), lr=lr, betas=(0.5, 0.999))),
        discriminators=OptimWrapper(torch.optim.Adam(
            model.discriminators.parameters(), lr=lr, betas=(0.5, 0.999))))


def make_batch(batch_size: int = 2, size: int = 32, seed: int = 0) -> dict:
    """A collated unpaired batch in MMagic's format (BGR uint8 CHW)."""
    rng = np.random.default_rng(seed)
    inputs, samples = [], []
    for _ in range(batch_size):
        imgs = {
            f'img_{d}': torch.from_numpy(
                rng.integers(0, 256, (3, size, size), dtype=np.uint8))
            for d in ('source', 'target')
        }
        inputs.append(imgs)
        sample = DataSample()
        sample.set_metainfo(dict(img_source_channel_order='bgr',
                                 img_target_channel_order='bgr'))
        sample.set_tensor_data(dict(imgs))  # as mmagic.PackInputs does
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def write_images(folder: str, sizes: Sequence[Tuple[int, int]],
                 names: Optional[List[str]] = None, seed: int = 0
                 ) -> List[str]:
    """Write RGB PNGs of the given ``(width, height)`` sizes; return names."""
    rng = np.random.default_rng(seed)
    names = names or [f'{i:03d}.png' for i in range(len(sizes))]
    for name, (w, h) in zip(names, sizes):
        path = osp.join(folder, name)
        os.makedirs(osp.dirname(path), exist_ok=True)
        yy, xx = np.mgrid[0:h, 0:w]
        img = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1),
                        rng.integers(0, 256, (h, w))], -1).astype(np.uint8)
        Image.fromarray(img).save(path)
    return names
