"""The paper's threshold: one fixed maximum-probability threshold."""
from typing import Dict, Optional, Sequence

import numpy as np

from mmbdl.utils.errors import ConfigCheckError
from .base_threshold_policy import BaseThresholdPolicy


class FixedThresholdPolicy(BaseThresholdPolicy):
    """Keep a pixel iff its maximum class probability is ``>= threshold``.

    Args:
        threshold (float): The threshold for every class. Defaults to 0.9.
    """

    name = 'fixed'

    def __init__(self, threshold: float = 0.9) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ConfigCheckError(f'fixed: threshold must be in [0, 1], got '
                                   f'{threshold}')
        self.threshold = float(threshold)

    def thresholds(self, counts: Sequence[int],
                   values: Sequence[Optional[float]]) -> np.ndarray:
        return np.full(len(counts), self.threshold, dtype=np.float64)

    def to_dict(self) -> Dict:
        return dict(type=self.name, threshold=self.threshold)
