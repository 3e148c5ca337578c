"""The thresholds of a pseudo-label round, computed without holding the
set's probabilities in memory.

The inference pass fills per-class confidence histograms and writes a
compact per-image cache (uint8 argmax, float32 confidence: 5 bytes per
pixel, 6 with target labels; deleted at the end). The selected order
statistics are then refined to their exact values in a pass over the cache,
so memory is independent of the number of images. Policies without
data-dependent thresholds (``fixed``, ``soft``) need neither.
"""
import hashlib
import os.path as osp
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .base_threshold_policy import BaseThresholdPolicy
from .class_confidence_histogram import (ClassConfidenceHistogram,
                                         select_order_statistics)
from .pseudo_label_io import CACHE_DIR, load_cache


def round_cache_dir(out_dir: str, cache_dir: Optional[str]) -> str:
    """The folder of a round's per-image cache.

    Args:
        out_dir (str): The round folder.
        cache_dir (str, optional): A folder in which a private subfolder
            is used (only it is removed at the end). Defaults to None
            (``out_dir/.cache``).

    Returns:
        str: The cache folder.
    """
    if cache_dir is None:
        return osp.join(out_dir, CACHE_DIR)
    key = hashlib.sha1(osp.abspath(out_dir).encode()).hexdigest()
    return osp.join(cache_dir, f'mmbdl_pseudo_label_cache_{key[:12]}')


def cache_path(cache_dir: str, idx: int) -> str:
    """The cache file of image ``idx``."""
    return osp.join(cache_dir, f'{idx:08d}.npy')


def one_pass_thresholds(policy: BaseThresholdPolicy,
                        num_classes: int) -> List[float]:
    """Thresholds of a policy that needs no statistics of the set."""
    return policy.thresholds([0] * num_classes, [None] * num_classes)


def round_thresholds(policy: BaseThresholdPolicy,
                     hist: ClassConfidenceHistogram, cache_dir: str,
                     indices: Sequence[int]) -> List[float]:
    """Exact per-class thresholds from the histograms and the cache.

    Args:
        policy (BaseThresholdPolicy): The round's policy.
        hist (ClassConfidenceHistogram): Histograms of the whole set
            (already summed over ranks).
        cache_dir (str): The per-image cache of this rank.
        indices (Sequence[int]): The images this rank cached.

    Returns:
        list[float]: One threshold per class (identical on every rank).
    """
    counts = [int(n) for n in hist.counts]
    wanted = {}
    for c, n in enumerate(counts):
        k = policy.selection_index(n)
        if k is not None:
            wanted[c] = k

    def refine_data() -> Iterator[Tuple[np.ndarray, np.ndarray]]:
        for idx in indices:
            pred, conf, _ = load_cache(cache_path(cache_dir, idx))
            yield pred, conf

    values = select_order_statistics(hist, wanted, refine_data,
                                     skip_above=policy.cap)
    return policy.thresholds(counts,
                             [values.get(c) for c in range(len(counts))])
