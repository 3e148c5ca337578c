"""Conversion of generator images into a segmentor's input space.

The CycleGAN generators of :class:`PerceptualCycleGAN` work on images
normalised by MMagic's ``DataPreprocessor`` (``(pixel - 127.5) / 127.5``, i.e.
[-1, 1], usually in RGB order). The frozen segmentation model that computes
the perceptual loss expects what its own ``SegDataPreProcessor`` produces from
an image loaded by ``LoadImageFromFile`` (BGR uint8): an optional BGR->RGB
swap, then ``(pixel - mean) / std``. For the BDL DeepLab that is Caffe style,
``BGR(255 * (x + 1) / 2) - (104.00699, 116.66877, 122.67891)`` with no std
division. :func:`generator_to_segmentor_input` performs exactly that mapping,
reading every constant from the two preprocessors so that it can never drift
from what the segmentor sees during its own training.
"""
from typing import NamedTuple, Optional

import torch
import torch.nn as nn
from torch import Tensor

from mmbdl.utils.errors import ConfigCheckError


class ImageNormalization(NamedTuple):
    """How a model's input tensor relates to 0..255 pixel values.

    ``input = (pixel[channel_order] - mean) / std`` with ``mean``/``std`` of
    shape ``(C, 1, 1)``.
    """
    mean: Tensor
    std: Tensor
    channel_order: str  # 'RGB' or 'BGR'


def _as_column(value, default: float) -> Tensor:
    """Return ``value`` as a float tensor of shape ``(C, 1, 1)``."""
    if value is None:
        return torch.tensor([default]).view(-1, 1, 1)
    tensor = torch.as_tensor(value, dtype=torch.float32).detach().cpu()
    return tensor.reshape(-1, 1, 1)


def get_segmentor_normalization(preprocessor: nn.Module
                                ) -> ImageNormalization:
    """Read mean, std and input channel order of a segmentor preprocessor.

    MMSegmentation's ``SegDataPreProcessor`` receives images as loaded by
    ``LoadImageFromFile`` (BGR) and swaps them to RGB when ``bgr_to_rgb``
    (or ``rgb_to_bgr``) is set, so the model input order is RGB when
    ``channel_conversion`` is true and BGR otherwise; mean and std are applied
    after the swap.

    Args:
        preprocessor (nn.Module): The segmentor's ``data_preprocessor``.

    Returns:
        ImageNormalization: mean/std (``(C, 1, 1)``) and channel order.

    Raises:
        TypeError: If ``preprocessor`` is not a ``SegDataPreProcessor``-like
            module (no ``channel_conversion`` attribute).
    """
    if not hasattr(preprocessor, 'channel_conversion'):
        raise TypeError(
            f'the perceptual segmentor has a {type(preprocessor).__name__} '
            'data_preprocessor; it needs a SegDataPreProcessor (mean, std, '
            'bgr_to_rgb) so that translated images can be normalised the way '
            'the segmentor was trained. Add e.g. data_preprocessor=dict('
            "type='SegDataPreProcessor', mean=[104.00699, 116.66877, "
            '122.67891], std=[1.0, 1.0, 1.0], bgr_to_rgb=False) to '
            'perceptual_model in the config.')
    if getattr(preprocessor, '_enable_normalize', False):
        mean = _as_column(preprocessor.mean, 0.)
        std = _as_column(preprocessor.std, 1.)
    else:
        mean, std = _as_column(None, 0.), _as_column(None, 1.)
    order = 'RGB' if preprocessor.channel_conversion else 'BGR'
    return ImageNormalization(mean, std, order)


def get_generator_normalization(preprocessor: nn.Module,
                                channel_order: Optional[str] = None
                                ) -> ImageNormalization:
    """Read mean, std and channel order of an MMagic ``DataPreprocessor``.

    Args:
        preprocessor (nn.Module): The translator's ``data_preprocessor``
            (MMagic ``DataPreprocessor``; ``mean``/``std`` buffers and
            ``output_channel_order``).
        channel_order (str, optional): Overrides the channel order when the
            preprocessor does not fix one. Defaults to None.

    Returns:
        ImageNormalization: mean/std (``(C, 1, 1)``) and channel order.

    Raises:
        ValueError: If no channel order is known.
    """
    if getattr(preprocessor, '_enable_normalize', False):
        mean = _as_column(preprocessor.mean, 0.)
        std = _as_column(preprocessor.std, 1.)
    else:
        mean, std = _as_column(None, 0.), _as_column(None, 1.)
    order = getattr(preprocessor, 'output_channel_order', None) or \
        channel_order
    if order is None or order.upper() not in ('RGB', 'BGR'):
        raise ConfigCheckError(
            'the translator data_preprocessor does not fix the channel order '
            "of generator images; set output_channel_order='RGB' in the "
            "translator's data_preprocessor config (mmagic.DataPreprocessor)")
    return ImageNormalization(mean, std, order.upper())


def generator_to_segmentor_input(img: Tensor, seg_norm: ImageNormalization,
                                 gen_norm: Optional[ImageNormalization] = None
                                 ) -> Tensor:
    """Map generator images to the input space of a segmentor.

    ``pixel = img * gen_std + gen_mean`` (for the default generator
    normalisation ``255 * (img + 1) / 2``), reorder channels to the
    segmentor's order, then ``(pixel - seg_mean) / seg_std``. No clamping, so
    gradients flow for every value.

    Args:
        img (Tensor): Generator images ``(N, 3, H, W)``, by default in
            [-1, 1] RGB.
        seg_norm (ImageNormalization): From
            :func:`get_segmentor_normalization`.
        gen_norm (ImageNormalization, optional): From
            :func:`get_generator_normalization`. Defaults to None, meaning
            mean 127.5, std 127.5, RGB.

    Returns:
        Tensor: Segmentor input of the same shape.
    """
    if gen_norm is None:
        gen_norm = ImageNormalization(
            torch.full((1, 1, 1), 127.5), torch.full((1, 1, 1), 127.5), 'RGB')
    device, dtype = img.device, img.dtype
    pixel = img * gen_norm.std.to(device, dtype) + gen_norm.mean.to(
        device, dtype)
    if gen_norm.channel_order != seg_norm.channel_order:
        pixel = pixel.flip(1)
    return (pixel - seg_norm.mean.to(device, dtype)) / seg_norm.std.to(
        device, dtype)
