"""Masked image consistency (MIC, Hoyer et al., CVPR 2023) as one term."""
from typing import Dict, Optional

import torch
from mmseg.models.utils import resize
from torch import Tensor

from mmbdl.registry import LOSS_TERMS
from mmbdl.utils.errors import ConfigCheckError
from .base import UDAStep, weighted_pixel_ce
from .teacher_pseudo_label import TeacherTerm


def block_mask(shape, block_size: int, ratio: float,
               device: Optional[torch.device] = None) -> Tensor:
    """MIC's block mask: 1 = kept, 0 = masked.

    One uniform number per block of a ``round(H / block_size)`` x
    ``round(W / block_size)`` grid, kept where it exceeds ``ratio``, then
    resized to ``(H, W)`` by nearest neighbour.

    Args:
        shape (tuple): Image batch shape (B, C, H, W).
        block_size (int): Side of a block in pixels.
        ratio (float): Probability of masking a block, in [0, 1).
        device (torch.device, optional): Where to draw.

    Returns:
        Tensor: Mask (B, 1, H, W) float.
    """
    b, _, h, w = shape
    grid = (b, 1, round(h / block_size), round(w / block_size))
    mask = (torch.rand(grid, device=device) > ratio).float()
    return resize(mask, size=(h, w))


def contrast_jitter(images: Tensor, strength: float,
                    prob: float) -> Tensor:
    """Per-image contrast jitter: with probability ``prob``, each image is
    scaled around its per-channel mean by a factor uniform in
    ``[1 - strength, 1 + strength]``. Contrast around the mean commutes
    with the per-channel normalisation, so it acts on normalised images
    exactly as on pixels."""
    if strength <= 0 or prob <= 0:
        return images
    n = images.shape[0]
    apply = (torch.rand(n, device=images.device) < prob).float()
    factor = 1 + strength * (2 * torch.rand(n, device=images.device) - 1)
    factor = (1 + apply * (factor - 1)).view(n, 1, 1, 1)
    mean = images.mean(dim=(2, 3), keepdim=True)
    return (images - mean) * factor + mean


@LOSS_TERMS.register_module(
    name=['MaskedConsistency', 'masked_consistency'])
class MaskedConsistency(TeacherTerm):
    """MIC: M on the masked, colour-jittered target learns the teacher's
    labels of the unmasked target.

    Reads the target images; runs the teacher (via the model, once per
    step, shared with the other teacher terms) and M. Returns
    ``mic.loss_ce = loss_weight * mean_p(w_p CE(M(aug(T) * mask)_p, y_p))``
    with the teacher's labels ``y`` and quality weights ``w``. No extra
    optimizer step. The mask (:func:`block_mask`) is drawn in M's step.

    Args:
        mask_ratio (float): Share of masked blocks, in [0, 1). Defaults to
            0.7 (MIC's).
        mask_block_size (int): Block side in pixels, at most the crop.
            Defaults to 64 (MIC's).
        loss_weight (float): Weight of the term. Defaults to 1 (MIC's).
        color_jitter (float): Contrast jitter strength (0 = off). Defaults
            to 0.2.
        color_jitter_prob (float): Probability of the jitter per image.
            Defaults to 0.2.
    """

    name = 'masked_consistency'
    loss_keys = ('mic.loss_ce', )

    def __init__(self, mask_ratio: float = 0.7, mask_block_size: int = 64,
                 loss_weight: float = 1.0, color_jitter: float = 0.2,
                 color_jitter_prob: float = 0.2) -> None:
        super().__init__(loss_weight=loss_weight)
        if not 0.0 <= mask_ratio < 1.0:
            raise ConfigCheckError(
                f'MaskedConsistency.mask_ratio must be in [0, 1), got '
                f'{mask_ratio}')
        if not (isinstance(mask_block_size, int) and mask_block_size > 0):
            raise ConfigCheckError(
                'MaskedConsistency.mask_block_size must be a positive '
                f'integer, got {mask_block_size!r}')
        self.mask_ratio = mask_ratio
        self.mask_block_size = mask_block_size
        self.color_jitter = color_jitter
        self.color_jitter_prob = color_jitter_prob

    def check_batch(self, step: UDAStep) -> None:
        super().check_batch(step)
        h, w = step.target.shape[-2:]
        if self.mask_block_size > min(h, w):
            raise ConfigCheckError(
                f'MaskedConsistency.mask_block_size={self.mask_block_size} '
                f'is larger than the target crop {w}x{h} (w x h); set it '
                'to at most the crop side')

    def loss(self, step: UDAStep) -> Dict[str, Tensor]:
        labels, weights = step.teacher_labels()
        target = step.target
        mask = block_mask(target.shape, self.mask_block_size,
                          self.mask_ratio, device=target.device)
        images = contrast_jitter(target, self.color_jitter,
                                 self.color_jitter_prob) * mask
        model = step.model
        return {
            'mic.loss_ce':
            self.loss_weight * weighted_pixel_ce(
                step.student_logits(images), labels, weights,
                model.uda_cfg['ignore_index'], model.align_corners)
        }
