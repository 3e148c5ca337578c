"""Per-round statistics of pseudo-labels (the paper's "pixel ratio")."""
from typing import Dict, List, Optional, Sequence

import numpy as np

from .histogram import IGNORE_INDEX, _all_reduce_sum


def _ratio(num: float, den: float) -> Optional[float]:
    return float(num) / float(den) if den > 0 else None


class PseudoLabelStatistics:
    """Count predicted, kept and correct pixels per class over a round.

    Pixels inside the ignored margins are not counted. Accuracy uses only
    pixels whose target label is not 255.

    Args:
        num_classes (int): Number of classes.
    """

    _FIELDS = ('predicted', 'kept', 'kept_weight_sum', 'gt_pred',
               'correct_pred', 'gt_kept', 'correct_kept')

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.num_images = 0
        self.num_with_gt = 0
        self.counts = {
            name: np.zeros(num_classes, dtype=np.int64)
            for name in self._FIELDS
        }

    def _bincount(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(values.astype(np.int64),
                           minlength=self.num_classes)[:self.num_classes]

    def update(self, pred: np.ndarray, keep: np.ndarray,
               gt: Optional[np.ndarray] = None,
               weight: Optional[np.ndarray] = None) -> None:
        """Add one image.

        Args:
            pred (np.ndarray): Predicted class per pixel, 255 in margins.
            keep (np.ndarray): bool, whether the pixel keeps its label.
            gt (np.ndarray, optional): Target labels (255 ignored), same
                size. Defaults to None.
            weight (np.ndarray, optional): uint8 weights (0..255), same
                size, for a rule with weights (soft). Defaults to None.
        """
        self.num_images += 1
        valid = pred < self.num_classes
        p = pred[valid]
        k = keep[valid]
        c = self.counts
        c['predicted'] += self._bincount(p)
        c['kept'] += self._bincount(p[k])
        if weight is not None:
            c['kept_weight_sum'] += np.bincount(
                p.astype(np.int64), weights=weight[valid].astype(np.float64),
                minlength=self.num_classes)[:self.num_classes].round().astype(
                    np.int64)
        if gt is not None:
            self.num_with_gt += 1
            g = gt[valid]
            has_gt = g != IGNORE_INDEX
            correct = has_gt & (g == p)
            c['gt_pred'] += self._bincount(p[has_gt])
            c['correct_pred'] += self._bincount(p[correct])
            c['gt_kept'] += self._bincount(p[has_gt & k])
            c['correct_kept'] += self._bincount(p[correct & k])

    def all_reduce(self) -> None:
        """Sum the counts over distributed ranks."""
        flat = np.concatenate(
            [np.array([self.num_images, self.num_with_gt], dtype=np.int64)] +
            [self.counts[name] for name in self._FIELDS])
        flat = _all_reduce_sum(flat)
        self.num_images, self.num_with_gt = int(flat[0]), int(flat[1])
        for j, name in enumerate(self._FIELDS):
            start = 2 + j * self.num_classes
            self.counts[name] = flat[start:start + self.num_classes]

    def to_dict(self, class_names: Sequence[str],
                thresholds: Sequence[float],
                weighted: bool = False) -> Dict:
        """Summarise the round.

        Args:
            class_names (Sequence[str]): Class names.
            thresholds (Sequence[float]): Per-class thresholds.
            weighted (bool): Whether the rule gave weights (soft; adds the
                mean weight). Defaults to False.

        Returns:
            dict: ``kept_ratio`` (kept / counted pixels, the paper's pixel
            ratio), ``kept_ratio_per_class`` (kept / predicted per class),
            ``predicted_share_per_class``, ``thresholds``,
            ``accuracy_kept`` / ``accuracy_all`` and per-class accuracies of
            kept pixels when target labels were available (else None),
            ``num_images``, ``num_pixels``, ``num_kept``.
        """
        c = self.counts
        names = list(class_names)
        total = int(c['predicted'].sum())
        kept = int(c['kept'].sum())
        has_gt = self.num_with_gt > 0
        stats: Dict = dict(
            num_images=self.num_images,
            num_pixels=total,
            num_kept=kept,
            kept_ratio=_ratio(kept, total),
            thresholds={n: float(t) for n, t in zip(names, thresholds)},
            kept_ratio_per_class={
                n: _ratio(c['kept'][j], c['predicted'][j])
                for j, n in enumerate(names)
            },
            predicted_share_per_class={
                n: _ratio(c['predicted'][j], total)
                for j, n in enumerate(names)
            },
            accuracy_kept=_ratio(c['correct_kept'].sum(), c['gt_kept'].sum())
            if has_gt else None,
            accuracy_all=_ratio(c['correct_pred'].sum(), c['gt_pred'].sum())
            if has_gt else None,
            accuracy_kept_per_class={
                n: _ratio(c['correct_kept'][j], c['gt_kept'][j])
                for j, n in enumerate(names)
            } if has_gt else None,
            num_images_with_labels=self.num_with_gt,
        )
        if weighted:
            stats['mean_weight'] = _ratio(
                c['kept_weight_sum'].sum() / 255.0, total)
        return stats

    @staticmethod
    def format_table(stats: Dict) -> str:
        """A text table of the per-class figures, for the log.

        Args:
            stats (dict): Output of :meth:`to_dict`.

        Returns:
            str: Table with one row per class.
        """
        def fmt(v):
            return '-' if v is None else f'{v:.4f}'

        rows: List[str] = [f"{'class':<16}{'threshold':>10}{'kept':>9}"
                           f"{'share':>9}{'acc':>9}"]
        acc = stats.get('accuracy_kept_per_class') or {}
        for name, thr in stats['thresholds'].items():
            rows.append(f'{name[:15]:<16}{thr:>10.4f}'
                        f"{fmt(stats['kept_ratio_per_class'][name]):>9}"
                        f"{fmt(stats['predicted_share_per_class'][name]):>9}"
                        f'{fmt(acc.get(name)):>9}')
        rows.append(f"{'all':<16}{'':>10}{fmt(stats['kept_ratio']):>9}"
                    f"{'':>9}{fmt(stats.get('accuracy_kept')):>9}")
        return '\n'.join(rows)
