"""Online pseudo-labels of an EMA teacher: plain (DAFormer) and ClassMix
(DACS)."""
from typing import Dict, Tuple

import torch
import torch.nn.functional as F
from mmseg.models.utils import resize
from torch import Tensor

from mmbdl.registry import LOSS_TERMS
from mmbdl.utils.errors import ConfigCheckError
from .base import UDALossTerm, UDAStep, labels_of, weighted_pixel_ce

TEACHER_KEY = "type='EMATeacherSegmentor' to the segmentor config"


class TeacherTerm(UDALossTerm):
    """Common part of the terms trained on the teacher's labels.

    Needs ``model.teacher`` (an ``EMATeacherSegmentor``); the labels are
    the model's (``teacher_pseudo_labels``), made once per step from the
    pre-processed target images, so a target sample carrying labels of its
    own is refused.

    Args:
        loss_weight (float): Weight of the term. Defaults to 1.
    """

    reads = ('target', )
    runs = ('segmentor', 'teacher')
    needs = {'teacher': TEACHER_KEY}

    def __init__(self, loss_weight: float = 1.0) -> None:
        self.loss_weight = loss_weight

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
        model = step.model
        return {
            'pseudo.loss_ce':
            self.loss_weight * weighted_pixel_ce(
                step.target_logits(), labels, weights,
                model.uda_cfg['ignore_index'], model.align_corners)
        }


@torch.no_grad()
def class_mix(src: Tensor, src_labels: Tensor, tgt: Tensor, labels: Tensor,
              weights: Tensor, ignore_index: int
              ) -> Tuple[Tensor, Tensor, Tensor]:
    """DACS class-mix: half of each source image's classes on the target.

    For each image, ``ceil(n / 2)`` of the ``n`` classes of the source label
    are drawn (``torch.randperm``); their pixels are pasted onto the target
    image, labelled with the source label there (weight 1) and the
    teacher's label elsewhere. A source of another size is resized to the
    target first (bilinear image, nearest label).

    Args:
        src (Tensor): Source images (N, 3, h, w).
        src_labels (Tensor): Source labels (N, 1, h, w) or (N, h, w).
        tgt (Tensor): Target images (N, 3, H, W).
        labels (Tensor): Teacher labels (N, H, W).
        weights (Tensor): Teacher pixel weights (N, H, W).
        ignore_index (int): Label of ignored pixels (never pasted).

    Returns:
        tuple[Tensor, Tensor, Tensor]: Mixed images, labels, weights.
    """
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
    for i in range(tgt.shape[0]):
        classes = torch.unique(src_labels[i])
        classes = classes[classes != ignore_index]
        if classes.numel() == 0:
            continue
        pick = torch.randperm(classes.numel(), device=classes.device)
        chosen = classes[pick[:(classes.numel() + 1) // 2]]
        mask = torch.isin(src_labels[i], chosen)
        mixed_img[i][:, mask] = src[i][:, mask]
        mixed_lbl[i][mask] = src_labels[i][mask]
        mixed_w[i][mask] = 1.0
    return mixed_img, mixed_lbl, mixed_w


@LOSS_TERMS.register_module(name=['ClassMix', 'class_mix'])
class ClassMix(TeacherTerm):
    """The teacher-label loss on DACS class-mixed images.

    Reads the source images and labels and the target images; before M's
    step it asks the model for the teacher's labels and mixes
    (:func:`class_mix`); in M's step it returns ``pseudo.loss_ce``:
    ``loss_weight * mean_p(w_p CE(M(mix)_p, y_mix_p))``. No extra
    optimizer step.
    """

    name = 'class_mix'
    reads = ('source', 'source_labels', 'target')
    loss_keys = ('pseudo.loss_ce', )

    def prepare(self, step: UDAStep) -> None:
        labels, weights = step.teacher_labels()
        step.extras[self.name] = class_mix(
            step.source, labels_of(step.source_samples)[:, None],
            step.target, labels, weights,
            step.model.uda_cfg['ignore_index'])

    def loss(self, step: UDAStep) -> Dict[str, Tensor]:
        images, labels, weights = step.extras[self.name]
        model = step.model
        return {
            'pseudo.loss_ce':
            self.loss_weight * weighted_pixel_ce(
                step.student_logits(images), labels, weights,
                model.uda_cfg['ignore_index'], model.align_corners)
        }
