"""The paper's soft ablation: keep every pixel, weighted by confidence."""
from typing import Optional, Sequence

import numpy as np

from .base_threshold_policy import BaseThresholdPolicy


class SoftLabelPolicy(BaseThresholdPolicy):
    """Keep every pixel and weight it by its confidence.

    The labeler writes ``<rel>.png`` (argmax everywhere outside the ignored
    margins) and ``<rel>.weight.png`` with ``round(255 * confidence)``.
    """

    name = 'soft'
    soft = True

    def thresholds(self, counts: Sequence[int],
                   values: Sequence[Optional[float]]) -> np.ndarray:
        return np.zeros(len(counts), dtype=np.float64)
