"""Loss terms of M: one registered class per UDA loss (``LOSS_TERMS``)."""
from .adversarial import Adversarial
from .base import UDALossTerm, UDAStep, build_loss_term, weighted_pixel_ce
from .masked_consistency import MaskedConsistency, block_mask
from .pseudo_label_ce import PseudoLabelCE
from .source_ce import SourceCE
from .teacher_pseudo_label import ClassMix, TeacherPseudoLabel, class_mix

__all__ = [
    'UDALossTerm', 'UDAStep', 'build_loss_term', 'weighted_pixel_ce',
    'SourceCE', 'Adversarial', 'PseudoLabelCE', 'TeacherPseudoLabel',
    'ClassMix', 'MaskedConsistency', 'block_mask', 'class_mix'
]
