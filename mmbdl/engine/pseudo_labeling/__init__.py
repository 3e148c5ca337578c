"""Pseudo-label generation for BDL's self-supervised learning (SSL)."""
from .base_threshold_policy import BaseThresholdPolicy
from .build_threshold_policy import THRESHOLD_POLICIES, build_threshold_policy
from .class_confidence_histogram import (ClassConfidenceHistogram,
                                         select_order_statistics,
                                         thresholds_to_float32)
from .classwise_median_policy import ClasswiseMedianPolicy
from .fixed_threshold_policy import FixedThresholdPolicy
from .pseudo_label_io import (COMPLETE_FILE, STATS_FILE, PseudoLabelDirError,
                              model_fingerprint,
                              prepare_round_dir, pseudo_label_path,
                              pseudo_label_relpath, pseudo_weight_path,
                              round_dir_state)
from .pseudo_label_statistics import PseudoLabelStatistics
from .pseudo_labeler import (PseudoLabeler, TargetImageError,
                             find_data_preprocessor)
from .segmentor_loading import (build_target_dataset,
                                dataloader_cfg_from_config,
                                hook_settings_from_config,
                                inference_segmentor_cfg,
                                load_inference_segmentor)
from .soft_label_policy import SoftLabelPolicy
from .top_fraction_policy import TopFractionPolicy

__all__ = [
    'BaseThresholdPolicy', 'ClasswiseMedianPolicy', 'FixedThresholdPolicy',
    'SoftLabelPolicy', 'TopFractionPolicy', 'THRESHOLD_POLICIES',
    'build_threshold_policy', 'ClassConfidenceHistogram',
    'select_order_statistics', 'thresholds_to_float32',
    'PseudoLabelStatistics', 'PseudoLabeler', 'TargetImageError',
    'find_data_preprocessor', 'PseudoLabelDirError', 'COMPLETE_FILE',
    'STATS_FILE',
    'model_fingerprint', 'prepare_round_dir', 'pseudo_label_path',
    'pseudo_label_relpath', 'pseudo_weight_path', 'round_dir_state',
    'build_target_dataset', 'dataloader_cfg_from_config',
    'hook_settings_from_config', 'inference_segmentor_cfg',
    'load_inference_segmentor'
]
