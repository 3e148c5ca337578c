"""mIoU19 / mIoU16 / mIoU13 from one confusion matrix (BDL protocol)."""
from collections import OrderedDict
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from prettytable import PrettyTable

from mmbdl.registry import METRICS

# SYNTHIA protocol subsets (train ids): mIoU16 drops terrain, truck, train;
# mIoU13 also wall, fence, pole.
DEFAULT_SUBSETS = OrderedDict(
    mIoU16=tuple(i for i in range(19) if i not in (9, 14, 16)),
    mIoU13=tuple(i for i in range(19) if i not in (3, 4, 5, 9, 14, 16)))


@METRICS.register_module()
class BDLIoUMetric(BaseMetric):
    """Confusion-matrix IoU with the class subsets of the BDL paper.

    Every processed sample adds to one ``C x C`` confusion matrix (rows:
    ground truth, columns: prediction; pixels labelled ``ignore_index`` are
    skipped). The prediction must have the label's (full) resolution: the
    segmentor upsamples its probabilities before the argmax. From the summed
    matrix: ``IoU_c = M_cc / (row_c + col_c - M_cc)`` (NaN when the class is
    neither present nor predicted), ``mIoU`` = NaN-ignoring mean over all
    classes, one ``mIoU<N>`` per class subset, ``aAcc`` = correct / labelled
    pixels and ``mAcc``; all in percent. Per-class IoUs are returned as
    ``IoU.<class name>`` and logged as a table.

    Args:
        num_classes (int, optional): Number of classes. Defaults to None
            (``len(dataset_meta['classes'])``).
        class_subsets (dict, optional): ``{metric name: train ids}``.
            Defaults to None: ``mIoU16`` and ``mIoU13`` for 19 classes,
            nothing otherwise. Pass ``{}`` for none.
        ignore_index (int): Label to skip. Defaults to 255.
        collect_device (str): Defaults to 'cpu'.
        prefix (str, optional): Metric name prefix. Defaults to None.
    """
    default_prefix: Optional[str] = None

    def __init__(self,
                 num_classes: Optional[int] = None,
                 class_subsets: Optional[Dict[str, Sequence[int]]] = None,
                 ignore_index: int = 255,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 **kwargs) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.num_classes = num_classes
        self.class_subsets = class_subsets
        self.ignore_index = ignore_index

    # ------------------------------------------------------------------
    def _num_classes(self) -> int:
        if self.num_classes is not None:
            return int(self.num_classes)
        meta = self.dataset_meta or {}
        if not meta.get('classes'):
            raise ValueError('BDLIoUMetric: set num_classes or evaluate a '
                             'data set whose metainfo has classes')
        return len(meta['classes'])

    def _class_names(self, n: int):
        names = (self.dataset_meta or {}).get('classes')
        if names is not None and len(names) == n:
            return list(names)
        return [str(i) for i in range(n)]

    def _subsets(self, n: int) -> Dict[str, Sequence[int]]:
        if self.class_subsets is None:
            return DEFAULT_SUBSETS if n == 19 else {}
        for name, ids in self.class_subsets.items():
            bad = [i for i in ids if not 0 <= int(i) < n]
            if bad:
                raise ValueError(f'BDLIoUMetric: subset {name} holds class '
                                 f'ids {bad} outside 0..{n - 1}')
        return self.class_subsets

    @staticmethod
    def confusion_matrix(pred: torch.Tensor, label: torch.Tensor,
                         num_classes: int,
                         ignore_index: int = 255) -> np.ndarray:
        """Confusion matrix (rows: label, columns: prediction).

        Args:
            pred (Tensor): HxW predicted class ids.
            label (Tensor): HxW label ids.
            num_classes (int): Number of classes.
            ignore_index (int): Label to skip. Defaults to 255.

        Returns:
            np.ndarray: ``num_classes x num_classes`` int64 counts.
        """
        pred = pred.reshape(-1).long()
        label = label.reshape(-1).long()
        keep = label != ignore_index
        pred, label = pred[keep], label[keep]
        if label.numel() and (label.min() < 0 or label.max() >= num_classes):
            bad = torch.unique(label[(label < 0) | (label >= num_classes)])
            raise ValueError(f'label ids {bad.tolist()} are outside '
                             f'0..{num_classes - 1} and {ignore_index}')
        if pred.numel() and (pred.min() < 0 or pred.max() >= num_classes):
            raise ValueError(f'predicted ids outside 0..{num_classes - 1}')
        flat = label * num_classes + pred
        counts = torch.bincount(flat, minlength=num_classes**2)
        return counts.reshape(num_classes, num_classes).cpu().numpy().astype(
            np.int64)

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Add the batch to the confusion matrix (one matrix per sample).

        Args:
            data_batch (dict): The dataloader batch (unused).
            data_samples (Sequence[dict]): Model outputs with
                ``pred_sem_seg`` and ``gt_sem_seg``.
        """
        n = self._num_classes()
        for sample in data_samples:
            pred = sample['pred_sem_seg']['data'].squeeze()
            label = sample['gt_sem_seg']['data'].squeeze().to(pred.device)
            name = sample.get('img_path', '?') if hasattr(
                sample, 'get') else '?'
            if pred.shape != label.shape:
                raise ValueError(
                    f'BDLIoUMetric: {name}: prediction {tuple(pred.shape)} '
                    f'and label {tuple(label.shape)} differ in size; the '
                    'segmentor must upsample to the label resolution (keep '
                    'LoadAnnotations after Resize in the test pipeline)')
            try:
                self.results.append(
                    self.confusion_matrix(pred, label, n, self.ignore_index))
            except ValueError as err:
                raise ValueError(f'BDLIoUMetric: {name}: {err}') from None

    @staticmethod
    def scores_from_confusion(conf: np.ndarray) -> Dict[str, np.ndarray]:
        """Per-class IoU and accuracy (fractions, NaN where undefined)."""
        conf = conf.astype(np.float64)
        diag = np.diag(conf)
        rows, cols = conf.sum(1), conf.sum(0)
        with np.errstate(divide='ignore', invalid='ignore'):
            union = rows + cols - diag
            iou = np.where(union > 0, diag / np.maximum(union, 1), np.nan)
            acc = np.where(rows > 0, diag / np.maximum(rows, 1), np.nan)
        total = conf.sum()
        aacc = diag.sum() / total if total > 0 else np.nan
        return dict(IoU=iou, Acc=acc, aAcc=np.float64(aacc))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Sum the matrices and compute the scores.

        Args:
            results (list): Confusion matrices of all samples.

        Returns:
            dict[str, float]: ``aAcc``, ``mIoU``, ``mAcc``, subset means and
            ``IoU.<class>`` (percent, rounded to 2 decimals).
        """
        logger: MMLogger = MMLogger.get_current_instance()
        n = self._num_classes()
        conf = np.zeros((n, n), dtype=np.int64)
        for mat in results:
            conf += mat
        scores = self.scores_from_confusion(conf)
        iou = scores['IoU']

        def nanmean(x):
            x = np.asarray(x, dtype=np.float64)
            return float(np.nanmean(x)) if np.isfinite(x).any() else np.nan

        def pct(x):
            return float(np.round(x * 100, 2)) if np.isfinite(x) else \
                float('nan')

        metrics = OrderedDict()
        metrics['aAcc'] = pct(scores['aAcc'])
        metrics['mIoU'] = pct(nanmean(iou))
        metrics['mAcc'] = pct(nanmean(scores['Acc']))
        for name, ids in self._subsets(n).items():
            metrics[name] = pct(nanmean(iou[list(ids)]))
        names = self._class_names(n)
        for name, value in zip(names, iou):
            metrics[f'IoU.{name}'] = pct(value)
        table = PrettyTable()
        table.add_column('Class', names)
        table.add_column('IoU', [pct(v) for v in iou])
        table.add_column('Acc', [pct(v) for v in scores['Acc']])
        print_log('per class results:', logger)
        print_log('\n' + table.get_string(), logger=logger)
        summary = ', '.join(f'{k}: {v}' for k, v in metrics.items()
                            if not k.startswith('IoU.'))
        print_log(summary, logger=logger)
        return metrics
