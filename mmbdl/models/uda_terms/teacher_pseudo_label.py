"""Online pseudo-labels of an EMA teacher: plain (DAFormer) and ClassMix
(DACS)."""
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from mmseg.models.utils import resize
from torch import Tensor

from mmbdl.registry import LOSS_TERMS
from mmbdl.utils.errors import ConfigCheckError
from ..utils.color_augment import build_color_augment
from .base import (REDUCTIONS, UDALossTerm, UDAStep, labels_of,
                   weighted_pixel_ce)

TEACHER_KEY = "type='EMATeacherSegmentor' to the segmentor config"


class TeacherTerm(UDALossTerm):
    """Common part of the terms trained on the teacher's labels.

    Needs ``model.teacher`` (an ``EMATeacherSegmentor``); the labels are
    the model's (``teacher_pseudo_labels``), made once per step from the
    pre-processed target images, so a target sample carrying labels of its
    own is refused.

    Args:
        loss_weight (float): Weight of the term. Defaults to 1.
        reduction (str): How the weighted pixel losses are averaged:
            'valid' (over the labelled pixels, DAFormer's) or 'all' (over
            every pixel, VFM-UDA's ``(ce * w).mean()``). Defaults to
            'valid'.
    """

    reads = ('target', )
    runs = ('segmentor', 'teacher')
    needs = {'teacher': TEACHER_KEY}

    def __init__(self, loss_weight: float = 1.0,
                 reduction: str = 'valid') -> None:
        if reduction not in REDUCTIONS:
            raise ConfigCheckError(
                f'{type(self).__name__}.reduction must be one of '
                f'{REDUCTIONS}, got {reduction!r}')
        self.loss_weight = loss_weight
        self.reduction = reduction

    def check_batch(self, step: UDAStep) -> None:
        super().check_batch(step)
        if not step.target_samples:
            raise ConfigCheckError(
                f'loss term {self.name!r} needs a target branch in every '
                "batch; set train_dataloader.dataset.type='UDADataset'")
        if any('gt_sem_seg' in s for s in step.target_samples):
            raise ConfigCheckError(
                'online self-training labels the target batch itself, but '
                'the target samples already carry labels: remove '
                'pseudo_label_dir from the UDADataset config (and the '
                'PseudoLabelHook)')

    def weighted_ce(self, step: UDAStep, logits: Tensor, labels: Tensor,
                    weights: Tensor) -> Tensor:
        """``loss_weight`` x the weighted pixel CE of student ``logits``
        (:func:`~.base.weighted_pixel_ce` with this term's reduction)."""
        model = step.model
        return self.loss_weight * weighted_pixel_ce(
            logits, labels, weights, model.uda_cfg['ignore_index'],
            model.align_corners, reduction=self.reduction)


@LOSS_TERMS.register_module(
    name=['TeacherPseudoLabel', 'teacher_pseudo_label'])
class TeacherPseudoLabel(TeacherTerm):
    """``loss_weight * mean_p(w_p CE(M(T)_p, y_p))`` with the teacher's
    ``y, w`` of the same target images (DAFormer's quality weight by
    default). Returns ``pseudo.loss_ce``; no extra optimizer step."""

    name = 'teacher_pseudo_label'
    loss_keys = ('pseudo.loss_ce', )

    def loss(self, step: UDAStep) -> Dict[str, Tensor]:
        labels, weights = step.teacher_labels()
        return {
            'pseudo.loss_ce':
            self.weighted_ce(step, step.target_logits(), labels, weights)
        }


CLASS_SETS = ('image', 'batch')


@torch.no_grad()
def class_mix(src: Tensor, src_labels: Tensor, tgt: Tensor, labels: Tensor,
              weights: Tensor, ignore_index: int, classes: str = 'image'
              ) -> Tuple[Tensor, Tensor, Tensor]:
    """DACS class-mix: half of the source classes pasted on the target.

    For each image, ``ceil(n / 2)`` of ``n`` candidate classes are drawn
    (``torch.randperm``); the source pixels of those classes are pasted
    onto the target image and labelled with the source label there (weight
    1 where the source is labelled, 0 where it is ``ignore_index``), the
    teacher's label and weight elsewhere. The candidates (``classes``):

    - 'image': the labelled classes of that image's source label;
    - 'batch': every value present in the batch's source labels,
      ``ignore_index`` included (DACS', DAFormer's and VFM-UDA's
      ``get_class_masks``, which reads ``torch.unique(labels)`` of the
      whole batch for every image).

    A source of another size is resized to the target first (bilinear
    image, nearest label).

    Args:
        src (Tensor): Source images (N, 3, h, w).
        src_labels (Tensor): Source labels (N, 1, h, w) or (N, h, w).
        tgt (Tensor): Target images (N, 3, H, W).
        labels (Tensor): Teacher labels (N, H, W).
        weights (Tensor): Teacher pixel weights (N, H, W).
        ignore_index (int): Label of ignored pixels.
        classes (str): 'image' or 'batch'. Defaults to 'image'.

    Returns:
        tuple[Tensor, Tensor, Tensor]: Mixed images, labels, weights.
    """
    if classes not in CLASS_SETS:
        raise ConfigCheckError(
            f'ClassMix.classes must be one of {CLASS_SETS}, got {classes!r}')
    size = tgt.shape[-2:]
    src_labels = src_labels.to(tgt.device)
    if src_labels.dim() == 3:
        src_labels = src_labels[:, None]
    if src.shape[-2:] != size:
        src = resize(src, size=size, mode='bilinear', align_corners=False,
                     warning=False)
        src_labels = F.interpolate(src_labels.float(), size=size,
                                   mode='nearest').long()
    src_labels = src_labels[:, 0].long()
    mixed_img, mixed_lbl, mixed_w = tgt.clone(), labels.clone(), \
        weights.clone()
    batch_classes = torch.unique(src_labels)
    for i in range(tgt.shape[0]):
        if classes == 'batch':
            candidates = batch_classes
        else:
            candidates = torch.unique(src_labels[i])
            candidates = candidates[candidates != ignore_index]
        if candidates.numel() == 0:
            continue
        pick = torch.randperm(candidates.numel(), device=candidates.device)
        chosen = candidates[pick[:(candidates.numel() + 1) // 2]]
        mask = torch.isin(src_labels[i], chosen)
        pasted = src_labels[i][mask]
        mixed_img[i][:, mask] = src[i][:, mask]
        mixed_lbl[i][mask] = pasted
        mixed_w[i][mask] = (pasted != ignore_index).to(mixed_w.dtype)
    return mixed_img, mixed_lbl, mixed_w


@LOSS_TERMS.register_module(name=['ClassMix', 'class_mix'])
class ClassMix(TeacherTerm):
    """The teacher-label loss on DACS class-mixed images.

    Reads the source images and labels and the target images; before M's
    step it asks the model for the teacher's labels of the (unaugmented)
    target, augments the target with ``target_augment``, mixes
    (:func:`class_mix`) and augments the mixed images with ``augment``; in
    M's step it returns ``pseudo.loss_ce``:
    ``loss_weight * mean_p(w_p CE(M(mix)_p, y_mix_p))``. No extra
    optimizer step.

    Args:
        loss_weight (float): Weight of the term. Defaults to 1.
        classes (str): The class set half of which is pasted, 'image' or
            'batch' (the releases' rule), see :func:`class_mix`. Defaults
            to 'image'.
        target_augment (dict, optional): A
            :class:`~mmbdl.models.utils.ColorAugment` config for the target
            before mixing (VFM-UDA's weak jitter). Defaults to None.
        augment (dict, optional): Its config for the mixed images
            (VFM-UDA's strong jitter and blur). Defaults to None.
        reduction (str): 'valid' or 'all', see :class:`TeacherTerm`.
    """

    name = 'class_mix'
    reads = ('source', 'source_labels', 'target')
    loss_keys = ('pseudo.loss_ce', )

    def __init__(self, loss_weight: float = 1.0, classes: str = 'image',
                 target_augment: Optional[dict] = None,
                 augment: Optional[dict] = None,
                 reduction: str = 'valid') -> None:
        super().__init__(loss_weight=loss_weight, reduction=reduction)
        if classes not in CLASS_SETS:
            raise ConfigCheckError(
                f'ClassMix.classes must be one of {CLASS_SETS}, got '
                f'{classes!r}')
        self.classes = classes
        self.target_augment = build_color_augment(target_augment)
        self.augment = build_color_augment(augment)

    def prepare(self, step: UDAStep) -> None:
        labels, weights = step.teacher_labels()
        images, mixed_labels, mixed_weights = class_mix(
            step.source, labels_of(step.source_samples)[:, None],
            step.augment(step.target, self.target_augment), labels,
            weights, step.model.uda_cfg['ignore_index'], self.classes)
        step.extras[self.name] = (step.augment(images, self.augment),
                                  mixed_labels, mixed_weights)

    def loss(self, step: UDAStep) -> Dict[str, Tensor]:
        images, labels, weights = step.extras[self.name]
        return {
            'pseudo.loss_ce':
            self.weighted_ce(step, step.student_logits(images), labels,
                             weights)
        }
