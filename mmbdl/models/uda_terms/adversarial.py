"""Output-space adversarial term of Eq. 1, with D's own step."""
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from mmbdl.registry import LOSS_TERMS
from .base import UDALossTerm, UDAStep


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
