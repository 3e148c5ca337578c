"""Interface of the confidence-threshold policies of pseudo-labelling."""
from typing import Dict, List, Optional, Sequence

import numpy as np


class BaseThresholdPolicy:
    """Decide per class which confidence a pixel needs to keep its label.

    A policy is described by two hooks. :meth:`selection_index` names, for a
    class with ``count`` predicted pixels, the position in the ascending
    sorted confidences of those pixels whose value the policy needs (an
    order statistic), or None if it needs none. The labeler finds these
    values exactly with a streaming selection structure
    (:class:`ClassConfidenceHistogram`) and passes them to
    :meth:`thresholds`. A pixel predicted as class ``c`` keeps its label iff
    its confidence is ``>= thresholds[c]``.

    Attributes:
        name (str): Short name used in configs and metadata.
        soft (bool): Whether every pixel is kept and weighted by its
            confidence instead of being thresholded.
        needs_selection (bool): Whether :meth:`selection_index` is used
            (thresholds depend on the data: two passes are needed).
        cap (float, optional): Upper bound of every data-dependent
            threshold (a selection larger than ``cap`` needs no refinement).
    """

    name: str = 'base'
    soft: bool = False
    needs_selection: bool = False
    cap: Optional[float] = None

    def selection_index(self, count: int) -> Optional[int]:
        """Index of the needed order statistic of one class.

        Args:
            count (int): Pixels predicted as the class.

        Returns:
            int, optional: Index into the ascending sorted confidences
            (``0 <= index < count``), or None when no value is needed.
        """
        return None

    def thresholds(self, counts: Sequence[int],
                   values: Sequence[Optional[float]]) -> np.ndarray:
        """Per-class thresholds from the selected order statistics.

        Args:
            counts (Sequence[int]): Pixels predicted per class.
            values (Sequence[float, optional]): The value at
                :meth:`selection_index` per class (None where no value was
                selected).

        Returns:
            np.ndarray: ``(num_classes, )`` float64 thresholds.
        """
        raise NotImplementedError

    def to_dict(self) -> Dict:
        """Settings of the policy, as stored in the round's metadata.

        Returns:
            dict: ``type`` and the policy's arguments.
        """
        return dict(type=self.name)

    def __repr__(self) -> str:
        args = ', '.join(f'{k}={v!r}' for k, v in self.to_dict().items()
                         if k != 'type')
        return f'{type(self).__name__}({args})'


def capped(values: List[float], cap: Optional[float]) -> List[float]:
    """Apply an optional upper bound to a list of thresholds.

    Args:
        values (list[float]): Thresholds.
        cap (float, optional): Upper bound; None leaves values unchanged.

    Returns:
        list[float]: ``min(v, cap)`` per value.
    """
    if cap is None:
        return list(values)
    return [min(float(v), float(cap)) for v in values]
