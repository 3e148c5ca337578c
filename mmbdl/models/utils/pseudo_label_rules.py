"""Pseudo-label rules: which target pixels keep their predicted label, and
with which weight (``TASK_UTILS``).

A rule turns class probabilities into labels and weights::

    label, weight = rule.select(prob)   # prob (N, C, H, W) -> (N, H, W)

``label`` is the argmax where the rule keeps the pixel and 255 (ignore)
elsewhere; ``weight`` is a per-pixel loss weight in [0, 1], or None for 1.
A rule whose thresholds depend on the whole target set declares
``needs_fit`` and gets :meth:`PseudoLabelRule.fit` with the set's
per-class confidence statistics first. The offline writer
(:class:`~mmbdl.engine.pseudo_labeling.PseudoLabeler`, before each
self-training round) and the online EMA teacher
(:class:`~mmbdl.models.segmentors.EMATeacherSegmentor`) both call the
rule. A plugin adds one with ``@TASK_UTILS.register_module()``.

Rules that look at the maximum probability only implement
:meth:`PseudoLabelRule.keep_weight` on ``(argmax, max)``; the offline
writer calls it on its compact cache, so data-dependent thresholds stay
streaming (memory independent of the set's size).
"""
import math
from fractions import Fraction
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from mmbdl.registry import TASK_UTILS
from mmbdl.utils.errors import ConfigCheckError

IGNORE_INDEX = 255
Array = Union[np.ndarray, Tensor]


def thresholds_to_float32(thresholds: Sequence[float]) -> np.ndarray:
    """Smallest float32 values ``t32`` with ``t32 >= t`` for every ``t``.

    For float32 confidences ``conf >= t32`` is then the same test as
    ``float64(conf) >= t`` (the release compares in float64).

    Args:
        thresholds (Sequence[float]): float64 thresholds.

    Returns:
        np.ndarray: float32 thresholds.
    """
    t64 = np.asarray(thresholds, dtype=np.float64)
    t32 = t64.astype(np.float32)
    low = t32.astype(np.float64) < t64
    t32[low] = np.nextafter(t32[low], np.float32(np.inf))
    return t32


def _full_like(ref: Array, value, dtype=None) -> Array:
    if isinstance(ref, Tensor):
        return torch.full_like(ref, value, dtype=dtype)
    return np.full(ref.shape, value, dtype=dtype)


class PseudoLabelRule:
    """Base of the pseudo-label rules.

    Attributes:
        name (str): Name in configs and in a round's metadata.
        needs_fit (bool): :meth:`fit` must run on the set's statistics
            before :meth:`select` (two passes offline; not usable online).
        weighted (bool): :meth:`select` returns per-pixel weights (written
            as ``<rel>.weight.png`` offline).
        uses_max_prob (bool): The rule looks at the maximum probability
            only (:meth:`keep_weight`); False for rules that need every
            class's probability (then :meth:`select` is overridden).
        cap (float, optional): Upper bound of fitted thresholds (selected
            values above it need no refinement).
    """

    name: str = 'base'
    needs_fit: bool = False
    weighted: bool = False
    uses_max_prob: bool = True
    cap: Optional[float] = None

    def fit(self, histogram) -> None:
        """Fit data-dependent thresholds (rules with ``needs_fit``).

        Args:
            histogram: The set's confidences per predicted class:
                ``counts`` (pixels per class) and
                ``order_statistics(indices, skip_above)`` (the exact value
                at an ascending index of a class's confidences).
        """
        if self.needs_fit:
            raise NotImplementedError(f'{type(self).__name__}.fit')

    def keep_weight(self, pred: Array,
                    conf: Array) -> Tuple[Array, Optional[Array]]:
        """Which pixels keep their label, and their weights.

        Args:
            pred (np.ndarray | Tensor): Argmax class per pixel (integer).
            conf (np.ndarray | Tensor): Maximum probability (float32).

        Returns:
            tuple: ``keep`` (bool, same shape) and ``weight`` (float in
            [0, 1], same shape) or None.
        """
        raise NotImplementedError(f'{type(self).__name__}.keep_weight')

    def select(self, prob: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        """Labels and weights from class probabilities.

        Args:
            prob (Tensor): ``(N, C, H, W)`` probabilities.

        Returns:
            tuple[Tensor, Tensor | None]: ``(N, H, W)`` long labels (255
            where not kept) and float weights (or None).
        """
        conf, pred = prob.max(dim=1)
        keep, weight = self.keep_weight(pred, conf)
        return pred.masked_fill(~keep, IGNORE_INDEX), weight

    def trusted(self, prob: Tensor) -> Tensor:
        """The pixels counted as confident in the statistics (default: the
        kept ones).

        Args:
            prob (Tensor): ``(N, C, H, W)`` probabilities.

        Returns:
            Tensor: ``(N, H, W)`` bool.
        """
        label, _ = self.select(prob)
        return label != IGNORE_INDEX

    def class_thresholds(self, num_classes: int) -> np.ndarray:
        """Per-class thresholds for the round's metadata (float64)."""
        return np.zeros(num_classes, dtype=np.float64)

    def to_dict(self) -> Dict:
        """The rule's settings (in a round's metadata and signature)."""
        return dict(type=self.name)

    def __repr__(self) -> str:
        args = ', '.join(f'{k}={v!r}' for k, v in self.to_dict().items()
                         if k != 'type')
        return f'{type(self).__name__}({args})'


class ThresholdRule(PseudoLabelRule):
    """Keep a pixel iff its confidence reaches its class's threshold.

    Subclasses give the thresholds: fixed ones in :meth:`class_thresholds`,
    or, with ``needs_fit``, an order statistic per class
    (:meth:`selection_index`) turned into thresholds by :meth:`thresholds`.
    """

    def __init__(self) -> None:
        self._fitted: Optional[np.ndarray] = None

    def selection_index(self, count: int) -> Optional[int]:
        """Ascending index of the order statistic a class with ``count``
        predicted pixels needs (None: no value needed)."""
        return None

    def thresholds(self, counts: Sequence[int],
                   values: Sequence[Optional[float]]) -> np.ndarray:
        """``(num_classes, )`` float64 thresholds from the selected values.
        """
        raise NotImplementedError(f'{type(self).__name__}.thresholds')

    def fit(self, histogram) -> None:
        counts = [int(n) for n in histogram.counts]
        wanted = {}
        for c, n in enumerate(counts):
            k = self.selection_index(n)
            if k is not None:
                wanted[c] = k
        values = histogram.order_statistics(wanted, skip_above=self.cap)
        self._fitted = np.asarray(
            self.thresholds(counts, [values.get(c)
                                     for c in range(len(counts))]),
            dtype=np.float64)

    def class_thresholds(self, num_classes: int) -> np.ndarray:
        if self.needs_fit:
            if self._fitted is None:
                raise RuntimeError(
                    f'{self!r} has data-dependent thresholds: call fit() on '
                    'the target set first (it cannot label online)')
            return self._fitted
        return np.asarray(
            self.thresholds([0] * num_classes, [None] * num_classes),
            dtype=np.float64)

    def keep_weight(self, pred: Array, conf: Array):
        if self._fitted is None:
            raise RuntimeError(
                f'{self!r} has data-dependent thresholds: call fit() on the '
                'target set first (it cannot label online)')
        t32 = thresholds_to_float32(self._fitted)
        if isinstance(conf, Tensor):
            t32 = torch.from_numpy(t32).to(conf.device)
            return conf >= t32[pred.long()], None
        return conf >= t32[pred], None


def _capped(values, cap: Optional[float]):
    if cap is None:
        return list(values)
    return [min(float(v), float(cap)) for v in values]


@TASK_UTILS.register_module(name=['classwise_median', 'ClasswiseMedianRule'])
class ClasswiseMedianRule(ThresholdRule):
    """Per-class median confidence capped at ``cap`` (the released code).

    For class ``c`` with ``n`` predicted pixels over the whole target set,
    the threshold is the element at index ``round(n / 2)`` of their
    ascending sorted confidences (round half to even: the upper median for
    even ``n``), then ``min(., cap)``. A class never predicted gets 0.

    Args:
        cap (float): Upper bound of every threshold. Defaults to 0.9.
    """

    name = 'classwise_median'
    needs_fit = True

    def __init__(self, cap: float = 0.9) -> None:
        super().__init__()
        if not 0.0 < cap <= 1.0:
            raise ConfigCheckError(
                f'classwise_median: cap must be in (0, 1], got {cap}')
        self.cap = float(cap)

    def selection_index(self, count: int) -> Optional[int]:
        if count <= 0:
            return None
        return int(round(count / 2))

    def thresholds(self, counts, values) -> np.ndarray:
        raw = [0.0 if (n <= 0 or v is None) else float(v)
               for n, v in zip(counts, values)]
        return np.asarray(_capped(raw, self.cap), dtype=np.float64)

    def to_dict(self) -> Dict:
        return dict(type=self.name, cap=self.cap)


@TASK_UTILS.register_module(name=['top_fraction', 'TopFractionRule'])
class TopFractionRule(ThresholdRule):
    """Keep the most confident ``fraction`` of the pixels of every class.

    For class ``c`` with ``n`` predicted pixels, ``m = ceil(n * fraction)``
    (computed exactly) and the threshold is the ``m``-th largest confidence
    (ascending index ``n - m``); pixels tied with it are kept too
    (class-balanced self-training, Zou et al., ECCV 2018). A class never
    predicted gets 0.

    Args:
        fraction (float): Share of each class's pixels to keep, in (0, 1].
            Defaults to 0.5.
        cap (float, optional): Upper bound of every threshold. Defaults to
            None (no bound).
    """

    name = 'top_fraction'
    needs_fit = True

    def __init__(self, fraction: float = 0.5,
                 cap: Optional[float] = None) -> None:
        super().__init__()
        if not 0.0 < fraction <= 1.0:
            raise ConfigCheckError(
                f'top_fraction: fraction must be in (0, 1], got {fraction}')
        if cap is not None and not 0.0 < cap <= 1.0:
            raise ConfigCheckError(
                f'top_fraction: cap must be in (0, 1] or None, got {cap}')
        self.fraction = float(fraction)
        self._fraction = Fraction(str(fraction))
        self.cap = None if cap is None else float(cap)

    def selection_index(self, count: int) -> Optional[int]:
        if count <= 0:
            return None
        keep = math.ceil(count * self._fraction)
        return count - max(1, min(keep, count))

    def thresholds(self, counts, values) -> np.ndarray:
        raw = [0.0 if (n <= 0 or v is None) else float(v)
               for n, v in zip(counts, values)]
        return np.asarray(_capped(raw, self.cap), dtype=np.float64)

    def to_dict(self) -> Dict:
        return dict(type=self.name, fraction=self.fraction, cap=self.cap)


@TASK_UTILS.register_module(name=['fixed', 'FixedThresholdRule'])
class FixedThresholdRule(ThresholdRule):
    """Keep a pixel iff its maximum class probability is ``>= threshold``
    (the paper's rule).

    Args:
        threshold (float): The threshold for every class. Defaults to 0.9.
    """

    name = 'fixed'

    def __init__(self, threshold: float = 0.9) -> None:
        super().__init__()
        if not 0.0 <= threshold <= 1.0:
            raise ConfigCheckError(
                f'fixed: threshold must be in [0, 1], got {threshold}')
        self.threshold = float(threshold)

    def thresholds(self, counts, values) -> np.ndarray:
        return np.full(len(counts), self.threshold, dtype=np.float64)

    def keep_weight(self, pred: Array, conf: Array):
        t32 = thresholds_to_float32([self.threshold])[0]
        return conf >= t32, None

    def to_dict(self) -> Dict:
        return dict(type=self.name, threshold=self.threshold)


@TASK_UTILS.register_module(name=['soft', 'SoftLabelRule'])
class SoftLabelRule(PseudoLabelRule):
    """Keep every pixel, weighted by its confidence (the paper's soft
    ablation; offline the weight is written as ``round(255 * conf)``)."""

    name = 'soft'
    weighted = True

    def keep_weight(self, pred: Array, conf: Array):
        return _full_like(pred, True, dtype=bool if not isinstance(
            pred, Tensor) else torch.bool), conf


@TASK_UTILS.register_module(name=['daformer_quality', 'QualityWeightRule'])
class QualityWeightRule(PseudoLabelRule):
    """Label every pixel; weight all of them by DAFormer's quality estimate
    ``q = #{p_max >= threshold} / #pixels`` of the batch (the online EMA
    teacher's default).

    Args:
        threshold (float): Confidence counted as trusted, in [0, 1).
            Defaults to 0.968 (DAFormer's).
    """

    name = 'daformer_quality'
    weighted = True

    def __init__(self, threshold: float = 0.968) -> None:
        if not 0.0 <= threshold < 1.0:
            raise ConfigCheckError(
                f'daformer_quality: threshold must be in [0, 1), got '
                f'{threshold}')
        self.threshold = float(threshold)

    def keep_weight(self, pred: Array, conf: Array):
        if isinstance(conf, Tensor):
            confident = conf.ge(self.threshold)
            quality = confident.sum().to(torch.float64) / confident.numel()
            weight = quality.to(conf.dtype).expand_as(conf).clone()
            return torch.ones_like(confident), weight
        confident = conf >= self.threshold
        quality = np.float64(confident.sum()) / confident.size
        return np.ones(conf.shape, bool), np.full(
            conf.shape, quality, dtype=conf.dtype)

    def trusted(self, prob: Tensor) -> Tensor:
        return prob.max(dim=1)[0].ge(self.threshold)

    def class_thresholds(self, num_classes: int) -> np.ndarray:
        return np.full(num_classes, self.threshold, dtype=np.float64)

    def to_dict(self) -> Dict:
        return dict(type=self.name, threshold=self.threshold)


RuleConfig = Union[str, dict, PseudoLabelRule, None]


def build_pseudo_label_rule(cfg: RuleConfig,
                            default: str = 'classwise_median'
                            ) -> PseudoLabelRule:
    """Build a rule from a name, a config dict or a built rule.

    Args:
        cfg (str | dict | PseudoLabelRule | None): A registered name
            ('classwise_median', 'fixed', 'soft', 'top_fraction',
            'daformer_quality', a class name, or a plugin's), a dict
            ``dict(type=name, **kwargs)``, a built rule, or None for
            ``default``.
        default (str): The rule of ``None``. Defaults to 'classwise_median'
            (the released rule).

    Returns:
        PseudoLabelRule: The rule.

    Raises:
        ConfigCheckError: For an unknown name or bad arguments.
    """
    if isinstance(cfg, PseudoLabelRule):
        return cfg
    cfg = dict(type=default) if cfg is None else cfg
    cfg = dict(type=cfg) if isinstance(cfg, str) else dict(cfg)
    name = cfg.get('type', default)
    cls = TASK_UTILS.get(name) if isinstance(name, str) else name
    if not (isinstance(cls, type) and issubclass(cls, PseudoLabelRule)):
        raise ConfigCheckError(
            f'unknown pseudo-label rule {name!r}; choose one of '
            "['classwise_median', 'daformer_quality', 'fixed', 'soft', "
            "'top_fraction'] or register a PseudoLabelRule in "
            'mmbdl.registry.TASK_UTILS')
    cfg.pop('type', None)
    try:
        return cls(**cfg)
    except TypeError as err:
        raise ConfigCheckError(
            f'bad arguments for pseudo-label rule {name!r}: {err}') from None
