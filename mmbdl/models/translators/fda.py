"""Fourier Domain Adaptation's amplitude swap (Yang & Soatto, CVPR 2020).

FDA translates a source image towards a target image without any training:
the low-frequency part of the source image's Fourier amplitude is replaced by
the target image's, and the image is recomposed with the source's phase.
"""
import math

import torch
from torch import Tensor

from mmbdl.utils.errors import ConfigCheckError


def check_beta(beta: float) -> float:
    """Refuse a band size outside ``(0, 0.5]``.

    Args:
        beta (float): Side of the swapped band as a fraction of the shorter
            image side.

    Returns:
        float: ``beta`` as a float.
    """
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or \
            not 0 < beta <= 0.5:
        raise ConfigCheckError(
            f'FDA beta={beta!r} must be in (0, 0.5]: the swapped band is '
            'beta times the shorter image side in each corner of the '
            'spectrum (the release trains with 0.01, 0.05 and 0.09)')
    return float(beta)


def band_size(height: int, width: int, beta: float) -> int:
    """The side ``b = floor(min(H, W) * beta)`` of the swapped corners."""
    return int(math.floor(min(height, width) * beta))


def fda_source_to_target(src: Tensor, trg: Tensor, beta: float) -> Tensor:
    """Give the source images the target images' low-frequency amplitude.

    Per image and channel, the two-sided 2-D FFT of ``src`` and ``trg`` is
    taken; in the four ``b x b`` corners of the unshifted spectrum (the low
    frequencies, positive and negative) the source amplitude is replaced by
    the target's, with ``b = floor(min(H, W) * beta)``. The spectrum is
    recomposed with the source phase and the real part of its inverse FFT is
    returned. Values are not clipped.

    Inputs are in the release's range: 0..255 pixels before the mean is
    subtracted (the channel order only has to agree between the two).

    Args:
        src (Tensor): ``(B, C, H, W)`` float source images.
        trg (Tensor): ``(B, C, H, W)`` float target images (or one,
            ``(1, C, H, W)``, for every source image).
        beta (float): Band size in ``(0, 0.5]``.

    Returns:
        Tensor: ``(B, C, H, W)`` source content with target amplitude, in
        ``src``'s dtype.
    """
    beta = check_beta(beta)
    if src.dim() != 4 or trg.dim() != 4 or src.shape[1:] != trg.shape[1:] \
            or trg.shape[0] not in (1, src.shape[0]):
        raise ValueError(
            f'fda_source_to_target needs (B, C, H, W) source and target '
            f'images of one size, got {tuple(src.shape)} and '
            f'{tuple(trg.shape)}')
    if not src.is_floating_point() or not trg.is_floating_point():
        raise ValueError('fda_source_to_target needs float images, got '
                         f'{src.dtype} and {trg.dtype}')
    height, width = src.shape[-2:]
    b = band_size(height, width, beta)
    spec_src = torch.fft.fft2(src)
    spec_trg = torch.fft.fft2(trg)
    amp = spec_src.abs()
    amp_trg = spec_trg.abs().expand_as(amp)
    rows = (slice(0, b), slice(height - b, height))
    cols = (slice(0, b), slice(width - b, width))
    for row in rows:
        for col in cols:
            amp[..., row, col] = amp_trg[..., row, col]
    mixed = torch.polar(amp, spec_src.angle())
    return torch.fft.ifft2(mixed).real.to(src.dtype)
