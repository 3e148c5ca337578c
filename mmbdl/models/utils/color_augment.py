"""Photometric augmentation of image batches inside a training step.

VFM-UDA (and DACS / DAFormer before it) augments the images of a UDA step
on the device, after the data pipeline: a weak colour jitter on the source
images and on the target before class-mixing, a strong one (colour jitter,
then a Gaussian blur) on the mixed and the masked images. The images of a
step are normalised by the data pre-processor, so :class:`ColorAugment`
works on them through :func:`to_unit_rgb` / :func:`from_unit_rgb`: RGB in
``[0, 1]``, as torchvision's colour transforms expect.
"""
import math
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor
from torchvision import transforms as tvt

from mmbdl.utils.errors import ConfigCheckError


def blur_kernel_size(side: int) -> int:
    """The odd blur kernel of VFM-UDA / DAFormer for an image side.

    ``floor(ceil(0.1 * side) - 0.5 + ceil(0.1 * side) % 2)``: the odd
    number at or just below a tenth of the side (103 for 1024, 99 for
    1000).
    """
    tenth = math.ceil(0.1 * side)
    return int(math.floor(tenth - 0.5 + tenth % 2))


class ColorAugment:
    """Per-image colour jitter, then (optionally) a Gaussian blur.

    Each image of a batch independently: with probability ``p`` a
    torchvision ``ColorJitter(brightness, contrast, saturation, hue)`` (its
    four operations in a random order, each factor drawn per image); then,
    with probability ``blur_p``, a ``GaussianBlur`` whose kernel is
    :func:`blur_kernel_size` of the image's shorter side and whose sigma is
    uniform in ``blur_sigma``. Random numbers come from torch's global
    generator (seeded by the runner).

    Args:
        brightness (float): ColorJitter's brightness. Defaults to 0.
        contrast (float): ColorJitter's contrast. Defaults to 0.
        saturation (float): ColorJitter's saturation. Defaults to 0.
        hue (float): ColorJitter's hue, at most 0.5. Defaults to 0.
        p (float): Probability of the jitter per image. Defaults to 1.
        blur_p (float): Probability of the blur per image. Defaults to 0.
        blur_sigma (tuple[float, float]): Range of the blur's sigma.
            Defaults to (0.15, 1.15) (VFM-UDA's).
    """

    def __init__(self,
                 brightness: float = 0.0,
                 contrast: float = 0.0,
                 saturation: float = 0.0,
                 hue: float = 0.0,
                 p: float = 1.0,
                 blur_p: float = 0.0,
                 blur_sigma: Sequence[float] = (0.15, 1.15)) -> None:
        for key, value in (('p', p), ('blur_p', blur_p)):
            if not 0.0 <= value <= 1.0:
                raise ConfigCheckError(
                    f'ColorAugment.{key} must be in [0, 1], got {value}')
        if not 0.0 <= hue <= 0.5:
            raise ConfigCheckError(
                f'ColorAugment.hue must be in [0, 0.5], got {hue}')
        self.jitter = tvt.ColorJitter(brightness=brightness,
                                      contrast=contrast,
                                      saturation=saturation, hue=hue)
        self.p = float(p)
        self.blur_p = float(blur_p)
        self.blur_sigma: Tuple[float, float] = (float(blur_sigma[0]),
                                                float(blur_sigma[1]))

    def __call__(self, images: Tensor) -> Tensor:
        """Augment RGB images in ``[0, 1]`` (N, 3, H, W); returns a new
        tensor (no gradient flows through the augmentation)."""
        blur = None
        if self.blur_p > 0:
            blur = tvt.GaussianBlur(
                kernel_size=blur_kernel_size(min(images.shape[-2:])),
                sigma=self.blur_sigma)
        out = []
        for image in images.detach():
            if self.p > 0 and torch.rand(1).item() < self.p:
                image = self.jitter(image)
            if blur is not None and torch.rand(1).item() < self.blur_p:
                image = blur(image)
            out.append(image)
        return torch.stack(out)

    def __repr__(self) -> str:
        j = self.jitter
        return (f'ColorAugment(brightness={j.brightness}, '
                f'contrast={j.contrast}, saturation={j.saturation}, '
                f'hue={j.hue}, p={self.p}, blur_p={self.blur_p}, '
                f'blur_sigma={self.blur_sigma})')


def build_color_augment(cfg: Optional[dict]) -> Optional[ColorAugment]:
    """A :class:`ColorAugment` from its keyword config (None: none)."""
    if cfg is None:
        return None
    if not isinstance(cfg, dict):
        raise ConfigCheckError(
            'an augmentation config is a dict of ColorAugment arguments '
            f'(brightness, contrast, saturation, hue, p, blur_p, '
            f'blur_sigma), got {cfg!r}')
    try:
        return ColorAugment(**cfg)
    except TypeError as err:
        raise ConfigCheckError(
            f'bad augmentation config {cfg!r}: {err}') from None


def _norm_params(preprocessor) -> Tuple[Tensor, Tensor, bool]:
    """``(mean, std, rgb)`` of a SegDataPreProcessor: per-channel
    (3, 1, 1) tensors on the 0..255 scale and whether its output is RGB."""
    pre = getattr(preprocessor, 'target', preprocessor)
    mean = getattr(pre, 'mean', None)
    std = getattr(pre, 'std', None)
    if mean is None or std is None or not getattr(pre, '_enable_normalize',
                                                  True):
        raise ConfigCheckError(
            f'{type(pre).__name__} does not normalise (no mean / std); the '
            'in-step augmentations need a SegDataPreProcessor with mean '
            'and std')
    # images are loaded BGR; the pre-processor's output is RGB only when
    # it converts
    rgb = bool(getattr(pre, 'channel_conversion', False))
    return mean.view(3, 1, 1), std.view(3, 1, 1), rgb


def to_unit_rgb(images: Tensor, preprocessor) -> Tensor:
    """Normalised pre-processor output -> RGB in ``[0, 1]`` (clamped)."""
    mean, std, rgb = _norm_params(preprocessor)
    pixels = (images * std.to(images) + mean.to(images)) / 255.0
    if not rgb:
        pixels = pixels.flip(1)
    return pixels.clamp(0.0, 1.0)


def from_unit_rgb(pixels: Tensor, preprocessor) -> Tensor:
    """RGB in ``[0, 1]`` -> the pre-processor's normalised layout."""
    mean, std, rgb = _norm_params(preprocessor)
    if not rgb:
        pixels = pixels.flip(1)
    return (pixels * 255.0 - mean.to(pixels)) / std.to(pixels)


def augment_normalised(images: Tensor, augment: Optional[ColorAugment],
                       preprocessor) -> Tensor:
    """Apply ``augment`` to normalised images (identity when None)."""
    if augment is None:
        return images
    return from_unit_rgb(augment(to_unit_rgb(images, preprocessor)),
                         preprocessor)
