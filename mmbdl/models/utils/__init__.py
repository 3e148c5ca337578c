"""Model utilities of mmbdl: weight key mapping, checked init, LoRA, the
pseudo-label rules, the in-step colour augmentation and the gradient
averaging before optimizer steps."""
from mmbdl.utils.weights import (ARCHS, convert_dinov2,
                                 convert_release_state_dict, detect_arch,
                                 unwrap_state_dict)
from .checked_pretrained_init import PRETRAINED_ATTR, CheckedPretrainedInit
from .color_augment import (ColorAugment, augment_normalised, blur_kernel_size,
                            build_color_augment, from_unit_rgb, to_unit_rgb)
from .grad_sync import (mean_all_reduce_grads, optimizer_params,
                        synchronised_steps)
from .lora import LoRALinear, add_lora
from .pseudo_label_rules import (IGNORE_INDEX, ClasswiseMedianRule,
                                 FixedThresholdRule, PseudoLabelRule,
                                 QualityWeightRule, SoftLabelRule,
                                 ThresholdRule, TopFractionRule,
                                 build_pseudo_label_rule,
                                 thresholds_to_float32)

__all__ = [
    'ARCHS', 'CheckedPretrainedInit', 'LoRALinear', 'PRETRAINED_ATTR',
    'add_lora', 'convert_dinov2', 'convert_release_state_dict',
    'detect_arch', 'unwrap_state_dict', 'IGNORE_INDEX', 'PseudoLabelRule',
    'ThresholdRule', 'ClasswiseMedianRule', 'TopFractionRule',
    'FixedThresholdRule', 'SoftLabelRule', 'QualityWeightRule',
    'build_pseudo_label_rule', 'thresholds_to_float32', 'ColorAugment',
    'augment_normalised', 'blur_kernel_size', 'build_color_augment',
    'from_unit_rgb', 'to_unit_rgb', 'mean_all_reduce_grads',
    'optimizer_params', 'synchronised_steps'
]
