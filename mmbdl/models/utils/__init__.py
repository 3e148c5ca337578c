"""Model utilities of mmbdl: release key mapping and checked init."""
from .checked_pretrained_init import PRETRAINED_ATTR, CheckedPretrainedInit
from .release_state_dict import (ARCHS, convert_release_state_dict,
                                 detect_arch, unwrap_state_dict)

__all__ = [
    'ARCHS', 'CheckedPretrainedInit', 'PRETRAINED_ATTR',
    'convert_release_state_dict', 'detect_arch', 'unwrap_state_dict'
]
