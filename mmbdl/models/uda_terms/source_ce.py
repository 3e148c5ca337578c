"""Cross-entropy of M on the (translated) source images."""
from typing import Dict, Optional

from torch import Tensor

from mmbdl.registry import LOSS_TERMS
from ..utils.color_augment import build_color_augment
from .base import UDALossTerm, UDAStep


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
