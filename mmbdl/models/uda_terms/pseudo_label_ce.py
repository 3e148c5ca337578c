"""Cross-entropy on offline pseudo-labels of the target (Eq. 3)."""
from typing import Dict, Optional, Sequence

import torch
from torch import Tensor

from mmbdl.registry import LOSS_TERMS
from mmbdl.utils.errors import ConfigCheckError
from .base import UDALossTerm, UDAStep, labels_of, weighted_pixel_ce


@LOSS_TERMS.register_module(name=['PseudoLabelCE', 'pseudo_label_ce'])
class PseudoLabelCE(UDALossTerm):
    """``loss_weight * sum_p w_p CE_p / #{p: y_p != 255}`` on the target.

    Reads the target images and their pseudo-labels (``gt_sem_seg``, 255 =
    ignore, written before the phase by ``PseudoLabelHook`` and loaded via
    the dataset's ``pseudo_label_dir``) and optional soft weights
    (``gt_seg_weight``; 1 without them). Runs M; returns
    ``pseudo.loss_ce``. A target sample without labels is refused.

    Args:
        loss_weight (float): Weight of the term. Defaults to 1.
    """

    name = 'pseudo_label_ce'
    reads = ('target', 'target_labels')
    loss_keys = ('pseudo.loss_ce', )

    def __init__(self, loss_weight: float = 1.0) -> None:
        self.loss_weight = loss_weight

    def check_batch(self, step: UDAStep) -> None:
        super().check_batch(step)
        for s in step.target_samples:
            if 'gt_sem_seg' not in s:
                raise ConfigCheckError(
                    f'loss term {self.name!r} needs pseudo-labels on every '
                    f'target sample ({step.model.label_path(s)} has none); '
                    'set train_dataloader.dataset.pseudo_label_dir')
        step.model.check_label_shapes(step.target_samples,
                                      'target (pseudo-label)',
                                      step.target.shape[-2:])

    def loss(self, step: UDAStep) -> Dict[str, Tensor]:
        model = step.model
        return {
            'pseudo.loss_ce':
            self.loss_weight * offline_pseudo_label_loss(
                step.target_logits(), step.target_samples,
                model.uda_cfg['ignore_index'], model.align_corners)
        }


def sample_weights(samples: Sequence) -> Optional[Tensor]:
    """The stacked ``gt_seg_weight`` (1 where a sample has none), or None
    when no sample has weights."""
    if not any('gt_seg_weight' in s for s in samples):
        return None
    return torch.stack([
        s.gt_seg_weight.data.float() if 'gt_seg_weight' in s else
        torch.ones_like(s.gt_sem_seg.data, dtype=torch.float)
        for s in samples
    ]).squeeze(1)


def offline_pseudo_label_loss(logits: Tensor, samples: Sequence,
                              ignore_index: int,
                              align_corners: bool) -> Tensor:
    """The weighted CE of logits on the samples' labels and weights."""
    return weighted_pixel_ce(logits, labels_of(samples),
                             sample_weights(samples), ignore_index,
                             align_corners)
