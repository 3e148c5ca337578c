"""Offline pseudo-labels for BDL's self-supervised learning (SSL).

Five modules: :mod:`.target_inference` (the segmentor on the target set),
:mod:`.histogram` (the set's per-class confidences, streaming),
:mod:`.statistics` (the round's pixel ratio and accuracies),
:mod:`.label_files` (the round folder's files) and :mod:`.pseudo_labeler`
(a whole round). Which pixels keep their label is a
:class:`~mmbdl.models.utils.PseudoLabelRule` (``TASK_UTILS``).
"""
from mmbdl.models.utils.pseudo_label_rules import thresholds_to_float32
from .histogram import (ClassConfidenceHistogram, SetConfidences,
                        select_order_statistics)
from .label_files import (COMPLETE_FILE, STATS_FILE, PseudoLabelDirError,
                          model_fingerprint, prepare_round_dir,
                          pseudo_label_path, pseudo_label_relpath,
                          pseudo_weight_path, round_dir_state)
from .pseudo_labeler import (PseudoLabeler, TargetImageError,
                             find_data_preprocessor)
from .statistics import PseudoLabelStatistics

__all__ = [
    'ClassConfidenceHistogram', 'SetConfidences', 'select_order_statistics',
    'thresholds_to_float32', 'PseudoLabelStatistics', 'PseudoLabeler',
    'TargetImageError', 'find_data_preprocessor', 'PseudoLabelDirError',
    'COMPLETE_FILE', 'STATS_FILE', 'model_fingerprint', 'prepare_round_dir',
    'pseudo_label_path', 'pseudo_label_relpath', 'pseudo_weight_path',
    'round_dir_state'
]
