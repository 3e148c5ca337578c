"""Masked image consistency (MIC, Hoyer et al., CVPR 2023) as one term."""
from typing import Dict, Optional

import torch
from mmseg.models.utils import resize
from torch import Tensor

from mmbdl.registry import LOSS_TERMS
from mmbdl.utils.errors import ConfigCheckError
from ..utils.color_augment import build_color_augment
from .base import UDAStep
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


MASK_MODES = ('blocks', 'tokens')


@LOSS_TERMS.register_module(
    name=['MaskedConsistency', 'masked_consistency'])
class MaskedConsistency(TeacherTerm):
    """Masked image consistency: M on the masked, augmented target learns
    the teacher's labels of the unmasked target.

    Reads the target images; runs the teacher (via the model, once per
    step, shared with the other teacher terms) and M. Returns
    ``mic.loss_ce = loss_weight * mean_p(w_p CE(M(mask(aug(T)))_p, y_p))``
    with the teacher's labels ``y`` and weights ``w``. No extra optimizer
    step. The mask is drawn in M's step, by ``mask_mode``:

    - 'blocks' (MIC, Hoyer et al., CVPR 2023): image blocks of
      ``mask_block_size`` pixels zeroed (:func:`block_mask`);
    - 'tokens' (VFM-UDA): the ViT's patch tokens replaced by its mask
      token after the patch embedding (the backbone's ``token_masking``,
      e.g. DINOv2's ``mask_token``); the image itself is not masked.

    Args:
        mask_ratio (float): Share of masked blocks or tokens, in [0, 1).
            Defaults to 0.7 (MIC's and VFM-UDA's).
        mask_block_size (int): Block side in pixels, at most the crop
            ('blocks' only). Defaults to 64 (MIC's).
        loss_weight (float): Weight of the term. Defaults to 1 (MIC's).
        color_jitter (float): Contrast jitter strength (0 = off), MIC's
            augmentation when ``augment`` is None. Defaults to 0.2.
        color_jitter_prob (float): Probability of the jitter per image.
            Defaults to 0.2.
        mask_mode (str): 'blocks' or 'tokens'. Defaults to 'blocks'.
        augment (dict, optional): A :class:`~mmbdl.models.utils.ColorAugment`
            config replacing the contrast jitter (VFM-UDA's strong colour
            jitter and blur). Defaults to None.
        reduction (str): 'valid' or 'all', see :class:`TeacherTerm`.
    """

    name = 'masked_consistency'
    loss_keys = ('mic.loss_ce', )

    def __init__(self, mask_ratio: float = 0.7, mask_block_size: int = 64,
                 loss_weight: float = 1.0, color_jitter: float = 0.2,
                 color_jitter_prob: float = 0.2, mask_mode: str = 'blocks',
                 augment: Optional[dict] = None,
                 reduction: str = 'valid') -> None:
        super().__init__(loss_weight=loss_weight, reduction=reduction)
        if not 0.0 <= mask_ratio < 1.0:
            raise ConfigCheckError(
                f'MaskedConsistency.mask_ratio must be in [0, 1), got '
                f'{mask_ratio}')
        if not (isinstance(mask_block_size, int) and mask_block_size > 0):
            raise ConfigCheckError(
                'MaskedConsistency.mask_block_size must be a positive '
                f'integer, got {mask_block_size!r}')
        if mask_mode not in MASK_MODES:
            raise ConfigCheckError(
                f'MaskedConsistency.mask_mode must be one of {MASK_MODES}, '
                f'got {mask_mode!r}')
        self.mask_ratio = mask_ratio
        self.mask_block_size = mask_block_size
        self.color_jitter = color_jitter
        self.color_jitter_prob = color_jitter_prob
        self.mask_mode = mask_mode
        self.augment = build_color_augment(augment)

    def check(self, model) -> None:
        super().check(model)
        if self.mask_mode == 'tokens' and not hasattr(
                model.segmentor.backbone, 'token_masking'):
            raise ConfigCheckError(
                "MaskedConsistency mask_mode='tokens' needs a ViT backbone "
                'with token_masking (DINOv2VisionTransformer with '
                f'with_mask_token=True), got '
                f'{type(model.segmentor.backbone).__name__}; use '
                "mask_mode='blocks'")

    def check_batch(self, step: UDAStep) -> None:
        super().check_batch(step)
        h, w = step.target.shape[-2:]
        if self.mask_mode == 'blocks' and self.mask_block_size > min(h, w):
            raise ConfigCheckError(
                f'MaskedConsistency.mask_block_size={self.mask_block_size} '
                f'is larger than the target crop {w}x{h} (w x h); set it '
                'to at most the crop side')

    def loss(self, step: UDAStep) -> Dict[str, Tensor]:
        labels, weights = step.teacher_labels()
        target = step.target
        mask = None
        if self.mask_mode == 'blocks':  # drawn first: MIC's order
            mask = block_mask(target.shape, self.mask_block_size,
                              self.mask_ratio, device=target.device)
        if self.augment is not None:
            images = step.augment(target, self.augment)
        else:
            images = contrast_jitter(target, self.color_jitter,
                                     self.color_jitter_prob)
        if mask is None:
            logits = step.student_logits(images, self.mask_ratio)
        else:
            logits = step.student_logits(images * mask)
        return {'mic.loss_ce': self.weighted_ce(step, logits, labels, weights)}
