"""The per-class confidences of a target set, with flat memory.

The released code sorts the confidences of every target pixel; the
histogram finds the same order statistics with two streaming passes over
the data and memory independent of the number of images:

1. ``update`` adds every pixel to a per-class histogram of ``num_bins``
   equal-width bins of [0, 1) plus one bin for exactly 1.0 (bin
   ``floor(conf * num_bins)``, exact in float32 for a power-of-two
   ``num_bins``).
2. ``plan`` locates, per class, the bin holding the wanted order statistic
   and its rank inside the bin.
3. ``update_refinement`` counts, for the pixels falling in those bins, the
   exact float32 values (the bin's float32 numbers are consecutive integers
   when read as bits, so a second histogram over the bit offsets is exact).
4. ``selected_values`` reads the exact values off the second histogram.

Counts are int64, so distributed ranks combine them with an all-reduce
(sum) and every rank gets identical thresholds. The second pass reads a
compact per-image cache (uint8 argmax, float32 confidence) written in the
first; :class:`SetConfidences` is what a rule's ``fit`` receives.
"""
import hashlib
import os.path as osp
from typing import Callable, Dict, Iterable, Optional, Tuple

import numpy as np
import torch

from mmbdl.models.utils.pseudo_label_rules import IGNORE_INDEX
from mmbdl.utils.errors import ConfigCheckError

CACHE_DIR = '.cache'


def _float_bits(value: float) -> int:
    """The bits of a float32 as an unsigned integer (monotone for >= 0)."""
    return int(np.array([value], dtype=np.float32).view(np.uint32)[0])


def _bits_float(bits: int) -> float:
    """Inverse of :func:`_float_bits`."""
    return float(np.array([bits], dtype=np.uint32).view(np.float32)[0])


def _all_reduce_sum(array: np.ndarray) -> np.ndarray:
    """Sum an int64 numpy array over distributed ranks (no-op otherwise)."""
    from mmengine.dist import all_reduce, get_world_size
    if get_world_size() == 1 or array.size == 0:
        return array
    tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.int64))
    all_reduce(tensor, op='sum')
    return tensor.cpu().numpy().astype(np.int64)


class ClassConfidenceHistogram:
    """Per-class confidence histograms with exact order-statistic selection.

    Args:
        num_classes (int): Number of classes (at most 255; label 255 is
            ignore).
        num_bins (int): Bins of [0, 1] per class in the first pass; a power
            of two. Defaults to 65536 (bin width 1.5e-5).

    Attributes:
        hist (np.ndarray): ``(num_classes, num_bins + 1)`` int64 counts (the
            last column counts confidences of exactly 1.0).
    """

    def __init__(self, num_classes: int, num_bins: int = 65536) -> None:
        if not 0 < num_classes < IGNORE_INDEX + 1:
            raise ConfigCheckError(f'num_classes must be in [1, 255], got '
                                   f'{num_classes}')
        if num_bins < 2 or num_bins & (num_bins - 1):
            raise ConfigCheckError(f'num_bins must be a power of two, got '
                                   f'{num_bins}')
        self.num_classes = num_classes
        self.num_bins = num_bins
        self.hist = np.zeros((num_classes, num_bins + 1), dtype=np.int64)
        self._plan: Dict[int, tuple] = {}
        self._fine: Dict[int, np.ndarray] = {}

    # ------------------------------------------------------------ pass one
    def bin_index(self, conf: np.ndarray) -> np.ndarray:
        """First-pass bin of each confidence.

        Args:
            conf (np.ndarray): float32 confidences in [0, 1].

        Returns:
            np.ndarray: int64 bins in ``[0, num_bins]`` (``num_bins`` holds
            exactly 1.0).
        """
        conf = np.asarray(conf, dtype=np.float32)
        bins = (conf * np.float32(self.num_bins)).astype(np.int64)
        return np.clip(bins, 0, self.num_bins)

    def _valid(self, pred: np.ndarray, conf: np.ndarray):
        pred = np.asarray(pred).reshape(-1)
        conf = np.asarray(conf, dtype=np.float32).reshape(-1)
        if pred.shape != conf.shape:
            raise ValueError(f'pred and conf differ in size: {pred.shape} vs '
                             f'{conf.shape}')
        mask = pred < self.num_classes
        if not mask.all():
            pred, conf = pred[mask], conf[mask]
        if conf.size and (conf.max() > 1.0 or conf.min() < 0.0):
            # rounding of averaged probabilities may leave [0, 1] by an ulp
            conf = np.clip(conf, np.float32(0.0), np.float32(1.0))
        return pred.astype(np.int64), conf

    def update(self, pred: np.ndarray, conf: np.ndarray) -> None:
        """Add the pixels of one image (pixels with ``pred`` 255 skipped).

        Args:
            pred (np.ndarray): Predicted class per pixel (uint8).
            conf (np.ndarray): Confidence per pixel (float32, same size).
        """
        pred, conf = self._valid(pred, conf)
        index = pred * (self.num_bins + 1) + self.bin_index(conf)
        self.hist += np.bincount(
            index, minlength=self.hist.size).reshape(self.hist.shape)

    def all_reduce(self) -> None:
        """Sum the first-pass histograms over distributed ranks."""
        self.hist = _all_reduce_sum(self.hist)

    @property
    def counts(self) -> np.ndarray:
        """``(num_classes, )`` int64 pixels per class."""
        return self.hist.sum(axis=1)

    def count_at_least(self, threshold: float) -> np.ndarray:
        """Pixels per class with confidence ``>= threshold`` (bin edges only).

        Exact when ``threshold * num_bins`` is an integer (e.g. 0.5, 0.75,
        1.0), else it counts from the bin holding ``threshold`` (an
        over-count of at most one bin).

        Args:
            threshold (float): Confidence threshold in [0, 1].

        Returns:
            np.ndarray: ``(num_classes, )`` int64.
        """
        start = int(np.floor(threshold * self.num_bins))
        start = min(max(start, 0), self.num_bins)
        return self.hist[:, start:].sum(axis=1)

    def approximate_values(self, indices: Dict[int, int]) -> Dict[int, float]:
        """Order statistics from the first pass only, at bin resolution.

        Args:
            indices (dict[int, int]): Class -> index into its ascending
                sorted confidences.

        Returns:
            dict[int, float]: Class -> lower edge of the bin holding the
            value (at most ``1 / num_bins`` below the exact value).
        """
        cumsum = np.cumsum(self.hist, axis=1)
        values = {}
        for cls, index in indices.items():
            b = int(np.searchsorted(cumsum[cls], index, side='right'))
            values[cls] = b / self.num_bins
        return values

    # ------------------------------------------------------------ pass two
    def plan(self, indices: Dict[int, int],
             skip_above: Optional[float] = None) -> None:
        """Prepare the exact selection of one order statistic per class.

        Args:
            indices (dict[int, int]): Class -> index into its ascending
                sorted confidences.
            skip_above (float, optional): Classes whose selected bin lies
                entirely at or above this value are resolved without
                refinement (their value is reported as the bin's lower
                edge, which is >= ``skip_above``). Defaults to None.
        """
        self._plan = {}
        self._fine = {}
        cumsum = np.cumsum(self.hist, axis=1)
        for cls, index in sorted(indices.items()):
            count = int(cumsum[cls, -1])
            if not 0 <= index < count:
                raise IndexError(f'class {cls}: index {index} outside '
                                 f'[0, {count})')
            b = int(np.searchsorted(cumsum[cls], index, side='right'))
            rank = index - (int(cumsum[cls, b - 1]) if b > 0 else 0)
            lo = _float_bits(b / self.num_bins)
            hi = _float_bits((b + 1) / self.num_bins) if b < self.num_bins \
                else lo + 1
            resolved = skip_above is not None and \
                b / self.num_bins >= skip_above
            self._plan[cls] = (b, rank, lo, hi, resolved)
            if not resolved:
                if hi - lo > (1 << 22):
                    raise ValueError(
                        f'class {cls}: confidences near {b / self.num_bins} '
                        'are too small for exact selection; confidences of '
                        'a softmax over <= 255 classes are >= 1/255')
                self._fine[cls] = np.zeros(hi - lo, dtype=np.int64)

    @property
    def needs_refinement(self) -> bool:
        """Whether :meth:`update_refinement` passes are needed."""
        return bool(self._fine)

    def update_refinement(self, pred: np.ndarray, conf: np.ndarray) -> None:
        """Second pass: count the exact values inside the planned bins.

        Args:
            pred (np.ndarray): Predicted class per pixel (uint8).
            conf (np.ndarray): Confidence per pixel (float32).
        """
        if not self._fine:
            return
        pred, conf = self._valid(pred, conf)
        bins = self.bin_index(conf)
        wanted = np.full(self.num_classes, -1, dtype=np.int64)
        for cls in self._fine:
            wanted[cls] = self._plan[cls][0]
        hit = bins == wanted[pred]
        if not hit.any():
            return
        pred, conf = pred[hit], conf[hit]
        bits = conf.view(np.uint32).astype(np.int64)
        for cls, fine in self._fine.items():
            sel = pred == cls
            if sel.any():
                offsets = bits[sel] - self._plan[cls][2]
                fine += np.bincount(offsets, minlength=fine.size)

    def all_reduce_refinement(self) -> None:
        """Sum the second-pass counts over distributed ranks."""
        if not self._fine:
            return
        order = sorted(self._fine)
        flat = _all_reduce_sum(np.concatenate([self._fine[c]
                                               for c in order]))
        start = 0
        for cls in order:
            size = self._fine[cls].size
            self._fine[cls] = flat[start:start + size]
            start += size

    def selected_values(self) -> Dict[int, float]:
        """The planned order statistics.

        Returns:
            dict[int, float]: Class -> exact float32 value (as a Python
            float), or the bin's lower edge for classes resolved by
            ``skip_above``.
        """
        values = {}
        for cls, (b, rank, lo, _, resolved) in self._plan.items():
            if resolved:
                values[cls] = b / self.num_bins
                continue
            cumsum = np.cumsum(self._fine[cls])
            if cumsum.size == 0 or cumsum[-1] <= rank:
                raise RuntimeError(
                    f'class {cls}: the refinement pass saw {int(cumsum[-1])} '
                    f'values in bin {b}, expected more than {rank}; the data '
                    'changed between the two passes')
            offset = int(np.searchsorted(cumsum, rank, side='right'))
            values[cls] = _bits_float(lo + offset)
        return values


def select_order_statistics(hist: ClassConfidenceHistogram,
                            indices: Dict[int, int], refine_data,
                            skip_above: Optional[float] = None
                            ) -> Dict[int, float]:
    """Run plan/refine/select with a re-iterable data source (a helper).

    Args:
        hist (ClassConfidenceHistogram): Filled first-pass histogram.
        indices (dict[int, int]): Class -> ascending index.
        refine_data (Callable[[], Iterable[tuple]]): Returns an iterable of
            ``(pred, conf)`` pairs: the same data as the first pass.
        skip_above (float, optional): See
            :meth:`ClassConfidenceHistogram.plan`.

    Returns:
        dict[int, float]: Class -> value.
    """
    hist.plan(indices, skip_above=skip_above)
    if hist.needs_refinement:
        for pred, conf in refine_data():
            hist.update_refinement(pred, conf)
    hist.all_reduce_refinement()
    return hist.selected_values()


class SetConfidences:
    """The confidences of a whole target set, as a rule's ``fit`` sees them.

    Args:
        hist (ClassConfidenceHistogram): First-pass histograms (summed over
            ranks).
        refine_data (Callable[[], Iterable[tuple]]): Returns the same
            ``(pred, conf)`` pairs as the first pass (this rank's), for the
            exact second pass.
    """

    def __init__(self, hist: 'ClassConfidenceHistogram',
                 refine_data: Callable[[], Iterable[Tuple[np.ndarray,
                                                          np.ndarray]]]
                 ) -> None:
        self.hist = hist
        self.refine_data = refine_data

    @property
    def counts(self) -> np.ndarray:
        """np.ndarray: Pixels predicted per class."""
        return self.hist.counts

    def order_statistics(self, indices: Dict[int, int],
                         skip_above: Optional[float] = None
                         ) -> Dict[int, float]:
        """Exact values at ascending indices of classes' confidences.

        Args:
            indices (dict[int, int]): Class -> ascending index.
            skip_above (float, optional): Values above it need no exact
                refinement (a rule's cap).

        Returns:
            dict[int, float]: Class -> value (identical on every rank).
        """
        return select_order_statistics(self.hist, indices, self.refine_data,
                                       skip_above=skip_above)


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
