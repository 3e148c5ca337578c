"""The paper's loss terms of M: Eq. 1 (cross-entropy on the translated
source, the output-space adversarial term with D's own step) and Eq. 3
(cross-entropy on the offline pseudo-labels of the target)."""
from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from mmbdl.registry import LOSS_TERMS
from mmbdl.utils.errors import ConfigCheckError
from ..utils.color_augment import build_color_augment
from .base import UDALossTerm, UDAStep, labels_of, weighted_pixel_ce


@LOSS_TERMS.register_module(name=['SourceCE', 'source_ce'])
class SourceCE(UDALossTerm):
    """The decode head's (and auxiliary heads') losses on the source.

    Reads the source images and labels, runs M, returns ``src.*`` (the
    head's own loss keys, e.g. ``src.loss_ce``, ``src.acc_seg``,
    ``src.aux.loss_ce``) and keeps the logits for the adversarial term.
    No extra optimizer step.

    Args:
        augment (dict, optional): A
            :class:`~mmbdl.models.utils.ColorAugment` config applied to the
            source images of M's step only (VFM-UDA's weak colour jitter;
            class-mixing pastes the unaugmented source). Defaults to None.
    """

    name = 'source_ce'
    reads = ('source', 'source_labels')
    loss_keys = ('src.loss_ce', )

    def __init__(self, augment: Optional[dict] = None) -> None:
        self.augment = build_color_augment(augment)

    def loss(self, step: UDAStep) -> Dict[str, Tensor]:
        seg = step.model.segmentor
        feats = seg.extract_feat(step.augment(step.source, self.augment))
        logits = seg.decode_head.forward(feats)
        losses = {
            f'src.{k}': v
            for k, v in seg.decode_head.loss_by_feat(
                logits, step.source_samples).items()
        }
        if getattr(seg, 'with_auxiliary_head', False):
            aux = seg._auxiliary_head_forward_train(feats,
                                                    step.source_samples)
            losses.update({f'src.{k}': v for k, v in aux.items()})
        step.source_logits = logits
        return losses


def bce_with_label(d_out: Tensor, label: float) -> Tensor:
    """Mean BCE-with-logits of D's map against a constant label."""
    d_out = d_out.float()
    return F.binary_cross_entropy_with_logits(
        d_out, torch.full_like(d_out, float(label)))


@LOSS_TERMS.register_module(name=['Adversarial', 'adversarial'])
class Adversarial(UDALossTerm):
    """``lambda_adv * BCE(D(softmax(up(M(T)))), source_label)`` and D's step.

    Reads the target images; runs M and D (frozen in M's step). After M's
    update it owns D's step, in the release's order (M first, then D on
    the detached outputs)::

        disc.loss_src = disc_loss_weight * BCE(D(p(M(S))), source_label)
        disc.loss_tgt = disc_loss_weight * BCE(D(p(M(T))), target_label)

    ``p`` is the softmax of the logits resized to the branch's input size.
    Needs ``model.discriminator`` and the ``'discriminator'`` optimizer.

    Args:
        lambda_adv (float): Weight of the term in M's loss. Defaults to
            1e-3 (the release's, ResNet-101).
        source_label (float): D's label of the source. Defaults to 0.
        target_label (float): D's label of the target. Defaults to 1.
        disc_loss_weight (float): Weight of each D term. Defaults to 0.5.
    """

    name = 'adversarial'
    reads = ('source', 'target')
    runs = ('segmentor', 'discriminator')
    needs = {'discriminator': "discriminator=dict(type='FCDiscriminator') "
             'to the segmentor config'}
    optim_keys = ('discriminator', )
    loss_keys = ('tgt.loss_adv', )

    def __init__(self, lambda_adv: float = 1e-3, source_label: float = 0.0,
                 target_label: float = 1.0,
                 disc_loss_weight: float = 0.5) -> None:
        self.lambda_adv = lambda_adv
        self.source_label = source_label
        self.target_label = target_label
        self.disc_loss_weight = disc_loss_weight

    def loss(self, step: UDAStep) -> Dict[str, Tensor]:
        model = step.model
        d_out = model.discriminator(
            model.probs(step.target_logits(), step.target.shape[2:]))
        return {
            'tgt.loss_adv':
            self.lambda_adv * bce_with_label(d_out, self.source_label)
        }

    def extra_step(self, step: UDAStep,
                   wrappers: dict) -> Optional[Dict[str, Tensor]]:
        model = step.model
        disc, wrapper = model.discriminator, wrappers['discriminator']
        src_logits = step.source_logits
        if src_logits is None:  # no source term in the phase
            with torch.no_grad():
                src_logits = step.student_logits(step.source)
        with wrapper.optim_context(disc):
            d_src = disc(model.probs(src_logits.detach(),
                                     step.source.shape[2:]))
            d_tgt = disc(model.probs(step.target_logits().detach(),
                                     step.target.shape[2:]))
            w = self.disc_loss_weight
            d_losses = {
                'disc.loss_src': w * bce_with_label(d_src, self.source_label),
                'disc.loss_tgt': w * bce_with_label(d_tgt, self.target_label),
            }
            d_loss, d_log = model.parse_losses(d_losses)
        model.check_finite(d_losses)
        wrapper.update_params(d_loss)
        d_log.pop('loss', None)
        return d_log


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
