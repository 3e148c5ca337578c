"""FDA's robust entropy term of M on the target (Yang & Soatto, CVPR 2020).
"""
import math
from numbers import Real
from typing import Dict

import torch.nn.functional as F
from torch import Tensor

from mmbdl.registry import LOSS_TERMS
from mmbdl.utils.errors import ConfigCheckError
from .base import UDALossTerm, UDAStep


def robust_entropy(logits: Tensor, eta: float = 2.0,
                   eps: float = 1e-8) -> Tensor:
    """``mean_p (E_p ** 2 + eps) ** eta`` of ``(N, C, h, w)`` logits.

    ``E_p = -sum_c P_cp log P_cp / log C`` is the entropy of the softmax
    at pixel ``p``, scaled to [0, 1]; the power is the Charbonnier penalty
    the release calls robust entropy. Computed in float32.

    Args:
        logits (Tensor): ``(N, C, h, w)`` logits.
        eta (float): The penalty's exponent. Defaults to 2.0.
        eps (float): Added to ``E_p ** 2``. Defaults to 1e-8.

    Returns:
        Tensor: The scalar mean over the batch and pixels.
    """
    logits = logits.float()
    ent = -(F.softmax(logits, dim=1) *
            F.log_softmax(logits, dim=1)).sum(dim=1)
    ent = ent / math.log(logits.shape[1])
    return ((ent**2 + eps)**eta).mean()


def _check(key: str, value, positive: bool) -> float:
    bad = isinstance(value, bool) or not isinstance(value, Real) or \
        (value <= 0 if positive else value < 0)
    if bad:
        raise ConfigCheckError(
            f'robust_entropy {key}={value!r} must be a number '
            f'{"> 0" if positive else ">= 0"}; the release uses '
            'loss_weight=0.005, eta=2.0, eps=1e-8')
    return float(value)


@LOSS_TERMS.register_module(name=['RobustEntropy', 'robust_entropy'])
class RobustEntropy(UDALossTerm):
    """``loss_weight * mean_p (E_p ** 2 + eps) ** eta`` of M on the target.

    FDA's entropy term (:func:`robust_entropy`): ``E_p`` is the entropy of
    the softmax of M's decode-head logits of the target images, at the
    head's resolution (before upsampling, as in the release), divided by
    ``log C``. Reads the target images; runs M; returns ``tgt.loss_ent``.
    No extra optimizer step. Optional: no config enables it by default;
    list it in a kind's ``loss_terms`` (``docs/loss_terms.md``).

    Args:
        loss_weight (float): Weight of the term. Defaults to 0.005 (the
            release's ``--entW``).
        eta (float): Exponent of the penalty. Defaults to 2.0 (the
            release's ``--ita``).
        eps (float): Added to the squared entropy. Defaults to 1e-8 (the
            release's).
    """

    name = 'robust_entropy'
    reads = ('target', )
    loss_keys = ('tgt.loss_ent', )

    def __init__(self, loss_weight: float = 0.005, eta: float = 2.0,
                 eps: float = 1e-8) -> None:
        self.loss_weight = _check('loss_weight', loss_weight, False)
        self.eta = _check('eta', eta, True)
        self.eps = _check('eps', eps, False)

    def loss(self, step: UDAStep) -> Dict[str, Tensor]:
        return {
            'tgt.loss_ent':
            self.loss_weight * robust_entropy(step.target_logits(), self.eta,
                                              self.eps)
        }
