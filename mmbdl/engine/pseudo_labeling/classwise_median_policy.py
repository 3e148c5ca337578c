"""The released BDL threshold: per-class median confidence, capped."""
from typing import Dict, Optional, Sequence

import numpy as np

from mmbdl.utils.errors import ConfigCheckError
from .base_threshold_policy import BaseThresholdPolicy, capped


class ClasswiseMedianPolicy(BaseThresholdPolicy):
    """Per-class median confidence capped at ``cap`` (the released code).

    For class ``c`` with ``n`` predicted pixels over the whole target set,
    the threshold is the element at index ``round(n / 2)`` of their
    ascending sorted confidences (Python/numpy round half to even, which is
    the upper median for even ``n``), then ``min(., cap)``. A class never
    predicted gets 0.

    Args:
        cap (float): Upper bound of every threshold. Defaults to 0.9.
    """

    name = 'classwise_median'
    needs_selection = True

    def __init__(self, cap: float = 0.9) -> None:
        if not 0.0 < cap <= 1.0:
            raise ConfigCheckError(f'classwise_median: cap must be in (0, 1], got '
                                   f'{cap}')
        self.cap = float(cap)

    def selection_index(self, count: int) -> Optional[int]:
        if count <= 0:
            return None
        # round() of a Python float rounds half to even, like numpy.
        return int(round(count / 2))

    def thresholds(self, counts: Sequence[int],
                   values: Sequence[Optional[float]]) -> np.ndarray:
        raw = [0.0 if (n <= 0 or v is None) else float(v)
               for n, v in zip(counts, values)]
        return np.asarray(capped(raw, self.cap), dtype=np.float64)

    def to_dict(self) -> Dict:
        return dict(type=self.name, cap=self.cap)
