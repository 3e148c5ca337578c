"""Loss terms of M: one registered class per UDA loss (``LOSS_TERMS``)."""
from .base import UDALossTerm, UDAStep, build_loss_term, weighted_pixel_ce
from .bdl_terms import Adversarial, PseudoLabelCE, SourceCE
from .masked_consistency import MaskedConsistency, block_mask
from .robust_entropy import RobustEntropy, robust_entropy
from .teacher_pseudo_label import ClassMix, TeacherPseudoLabel, class_mix

__all__ = [
    'UDALossTerm', 'UDAStep', 'build_loss_term', 'weighted_pixel_ce',
    'SourceCE', 'Adversarial', 'PseudoLabelCE', 'TeacherPseudoLabel',
    'ClassMix', 'MaskedConsistency', 'block_mask', 'class_mix',
    'RobustEntropy', 'robust_entropy'
]
