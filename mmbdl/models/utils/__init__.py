"""Model utilities of mmbdl: weight key mapping, checked init, LoRA."""
from .checked_pretrained_init import PRETRAINED_ATTR, CheckedPretrainedInit
from .dinov2_state_dict import convert_dinov2
from .lora import LoRALinear, add_lora
from .release_state_dict import (ARCHS, convert_release_state_dict,
                                 detect_arch, unwrap_state_dict)

__all__ = [
    'ARCHS', 'CheckedPretrainedInit', 'LoRALinear', 'PRETRAINED_ATTR',
    'add_lora', 'convert_dinov2',
    'convert_release_state_dict', 'detect_arch', 'unwrap_state_dict'
]
