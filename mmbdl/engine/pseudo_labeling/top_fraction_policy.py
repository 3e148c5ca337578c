"""CBST-style class-balanced threshold: keep each class's top fraction."""
import math
from fractions import Fraction
from typing import Dict, Optional, Sequence

import numpy as np

from mmbdl.utils.errors import ConfigCheckError
from .base_threshold_policy import BaseThresholdPolicy, capped


class TopFractionPolicy(BaseThresholdPolicy):
    """Keep the most confident ``fraction`` of the pixels of every class.

    For class ``c`` with ``n`` predicted pixels, ``m = ceil(n * fraction)``
    (computed exactly) and the threshold is the ``m``-th largest confidence
    (ascending index ``n - m``); pixels tied with it are kept too. As in
    class-balanced self-training (Zou et al., ECCV 2018), rare classes keep
    as large a share as frequent ones. A class never predicted gets 0.

    Args:
        fraction (float): Share of each class's pixels to keep, in (0, 1].
            Defaults to 0.5.
        cap (float, optional): Upper bound of every threshold. Defaults to
            None (no bound).
    """

    name = 'top_fraction'
    needs_selection = True

    def __init__(self, fraction: float = 0.5,
                 cap: Optional[float] = None) -> None:
        if not 0.0 < fraction <= 1.0:
            raise ConfigCheckError(f'top_fraction: fraction must be in (0, 1], '
                                   f'got {fraction}')
        if cap is not None and not 0.0 < cap <= 1.0:
            raise ConfigCheckError(f'top_fraction: cap must be in (0, 1] or None, '
                                   f'got {cap}')
        self.fraction = float(fraction)
        self._fraction = Fraction(str(fraction))
        self.cap = None if cap is None else float(cap)

    def selection_index(self, count: int) -> Optional[int]:
        if count <= 0:
            return None
        keep = math.ceil(count * self._fraction)
        return count - max(1, min(keep, count))

    def thresholds(self, counts: Sequence[int],
                   values: Sequence[Optional[float]]) -> np.ndarray:
        raw = [0.0 if (n <= 0 or v is None) else float(v)
               for n, v in zip(counts, values)]
        return np.asarray(capped(raw, self.cap), dtype=np.float64)

    def to_dict(self) -> Dict:
        return dict(type=self.name, fraction=self.fraction, cap=self.cap)
