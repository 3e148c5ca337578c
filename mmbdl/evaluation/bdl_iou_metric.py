"""mIoU19 / mIoU16 / mIoU13 from one confusion matrix (BDL protocol)."""
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.logging import MMLogger, print_log
from mmseg.evaluation import IoUMetric
from prettytable import PrettyTable

from mmbdl.registry import METRICS
from mmbdl.utils.errors import ConfigCheckError
from .prediction_writer import PredictionWriter

# SYNTHIA protocol subsets (train ids): mIoU16 drops terrain, truck, train;
# mIoU13 also wall, fence, pole.
DEFAULT_SUBSETS = OrderedDict(
    mIoU16=tuple(i for i in range(19) if i not in (9, 14, 16)),
    mIoU13=tuple(i for i in range(19) if i not in (3, 4, 5, 9, 14, 16)))


@METRICS.register_module()
class BDLIoUMetric(IoUMetric):
    """MMSegmentation's ``IoUMetric`` with the class subsets of the BDL paper.

    Every processed sample adds one ``C x C`` confusion matrix (rows: ground
    truth, columns: prediction; pixels labelled ``ignore_index`` are
    skipped). The prediction must have the label's (full) resolution: the
    segmentor upsamples its probabilities before the argmax. The summed
    matrix gives MMSegmentation's areas (intersection = diagonal, label =
    row sums, prediction = column sums), from which
    :meth:`IoUMetric.total_area_to_metrics` computes the per-class scores
    (``IoU`` NaN when a class is neither present nor predicted, unless
    ``nan_to_num``). Reported, in percent: ``aAcc``, ``mIoU`` (NaN-ignoring
    mean), ``mAcc``, the means of ``iou_metrics`` (``mDice``, ``mFscore``,
    ``mPrecision``, ``mRecall``), one ``mIoU<N>`` per class subset, computed
    from the same per-class IoUs, and ``IoU.<class name>``; a per-class table
    is logged.

    ``output_dir`` writes one prediction PNG per image (named after the
    image) in train ids, or in Cityscapes label ids with
    ``output_format='cityscapes_label_ids'`` (the benchmark server's format);
    ``format_only`` writes them without evaluating (no ground truth needed).

    Args:
        num_classes (int, optional): Number of classes. Defaults to None
            (``len(dataset_meta['classes'])``).
        class_subsets (dict, optional): ``{metric name: train ids}``.
            Defaults to None: ``mIoU16`` and ``mIoU13`` for 19 classes,
            nothing otherwise. Pass ``{}`` for none.
        ignore_index (int): Label to skip. Defaults to 255.
        iou_metrics (list[str]): MMSegmentation's ``'mIoU'``, ``'mDice'``,
            ``'mFscore'``. ``'mIoU'`` is always computed (the BDL protocol
            and the loop's round table need it). Defaults to ``['mIoU']``.
        nan_to_num (int, optional): Replace NaN per-class scores (before the
            means). Defaults to None.
        beta (int): Weight of recall in the F-score. Defaults to 1.
        collect_device (str): Defaults to 'cpu'.
        output_dir (str, optional): Folder for prediction PNGs. Defaults to
            None (none written).
        format_only (bool): Only write the predictions (needs
            ``output_dir``). Defaults to False.
        output_format (str): ``'train_ids'`` or ``'cityscapes_label_ids'``.
            Defaults to 'train_ids'.
        prefix (str, optional): Metric name prefix. Defaults to None.
        keep_results (bool): Accepted for MMSegmentation's
            ``tools/test.py --out DIR``, which sets ``output_dir=DIR`` and
            ``keep_results=True``: the prediction PNGs written to
            ``output_dir`` are always kept, so it changes nothing.
            Defaults to False.
    """
    default_prefix: Optional[str] = None

    def __init__(self,
                 num_classes: Optional[int] = None,
                 class_subsets: Optional[Dict[str, Sequence[int]]] = None,
                 ignore_index: int = 255,
                 iou_metrics: Sequence[str] = ('mIoU', ),
                 nan_to_num: Optional[int] = None,
                 beta: int = 1,
                 collect_device: str = 'cpu',
                 output_dir: Optional[str] = None,
                 format_only: bool = False,
                 output_format: str = 'train_ids',
                 prefix: Optional[str] = None,
                 keep_results: bool = False) -> None:
        metrics = [iou_metrics] if isinstance(iou_metrics, str) else list(
            iou_metrics)
        allowed = ('mIoU', 'mDice', 'mFscore')
        unknown = [m for m in metrics if m not in allowed]
        if unknown:
            raise ConfigCheckError(
                f'BDLIoUMetric: iou_metrics {unknown} are not supported; '
                f'choose from {allowed}')
        if 'mIoU' not in metrics:
            metrics.insert(0, 'mIoU')
        if format_only and not output_dir:
            raise ConfigCheckError(
                'BDLIoUMetric: format_only=True writes the predictions only, '
                'so it needs output_dir')
        # validates output_format before the parent creates output_dir
        writer = PredictionWriter(output_dir, output_format) \
            if output_dir else None
        super().__init__(
            ignore_index=ignore_index,
            iou_metrics=metrics,
            nan_to_num=nan_to_num,
            beta=beta,
            collect_device=collect_device,
            output_dir=output_dir,
            format_only=format_only,
            prefix=prefix)
        self.num_classes = num_classes
        self.class_subsets = class_subsets
        self.output_format = output_format
        self.writer = writer

    # ------------------------------------------------------------------
    def _num_classes(self) -> int:
        if self.num_classes is not None:
            return int(self.num_classes)
        meta = self.dataset_meta or {}
        if not meta.get('classes'):
            raise ConfigCheckError(
                'BDLIoUMetric: set num_classes or evaluate a data set whose '
                'metainfo has classes')
        return len(meta['classes'])

    def _class_names(self, n: int) -> List[str]:
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
                raise ConfigCheckError(
                    f'BDLIoUMetric: subset {name} holds class ids {bad} '
                    f'outside 0..{n - 1}')
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
            raise ConfigCheckError(f'label ids {bad.tolist()} are outside '
                                   f'0..{num_classes - 1} and {ignore_index}')
        if pred.numel() and (pred.min() < 0 or pred.max() >= num_classes):
            raise ValueError(f'predicted ids outside 0..{num_classes - 1}')
        flat = label * num_classes + pred
        counts = torch.bincount(flat, minlength=num_classes**2)
        return counts.reshape(num_classes, num_classes).cpu().numpy().astype(
            np.int64)

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Add each sample's confusion matrix; write its prediction PNG.

        Args:
            data_batch (dict): The dataloader batch (unused).
            data_samples (Sequence[dict]): Model outputs with
                ``pred_sem_seg`` (and ``gt_sem_seg`` unless
                ``format_only``).
        """
        n = self._num_classes()
        for sample in data_samples:
            pred = sample['pred_sem_seg']['data'].squeeze()
            name = sample.get('img_path', '?')
            if not self.format_only:
                label = sample['gt_sem_seg']['data'].squeeze().to(
                    pred.device)
                if pred.shape != label.shape:
                    raise ConfigCheckError(
                        f'BDLIoUMetric: {name}: prediction '
                        f'{tuple(pred.shape)} and label {tuple(label.shape)} '
                        'differ in size; the segmentor must upsample to the '
                        'label resolution (keep LoadAnnotations after Resize '
                        'in the test pipeline)')
                try:
                    self.results.append(self.confusion_matrix(
                        pred, label, n, self.ignore_index))
                except ValueError as err:
                    raise ConfigCheckError(
                        f'BDLIoUMetric: {name}: {err}') from None
            else:
                # one entry per written sample, so that MMEngine's
                # ``evaluate`` does not warn that the results are empty
                self.results.append(None)
            if self.writer is not None:
                self.writer.write(pred, name,
                                  sample.get('reduce_zero_label', False))

    # ------------------------------------------------------------------
    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Sum the matrices and compute the scores.

        Args:
            results (list): Confusion matrices of all samples.

        Returns:
            dict[str, float]: ``aAcc``, ``mIoU``, ``mAcc``, the other means
            of ``iou_metrics``, subset means and ``IoU.<class>`` (percent,
            rounded to 2 decimals); empty with ``format_only``.
        """
        logger: MMLogger = MMLogger.get_current_instance()
        if self.format_only:
            print_log(f'predictions written to {self.output_dir} '
                      f'({self.output_format}); no evaluation (format_only)',
                      logger)
            return OrderedDict()
        n = self._num_classes()
        conf = np.zeros((n, n), dtype=np.int64)
        for mat in results:
            conf += mat
        scores = confusion_scores(conf, self.metrics, self.nan_to_num,
                                  self.beta)
        iou = np.asarray(scores['IoU'], dtype=np.float64)

        metrics = OrderedDict()
        metrics['aAcc'] = _pct(scores['aAcc'])
        metrics['mIoU'] = _pct(_nanmean(iou))
        metrics['mAcc'] = _pct(_nanmean(scores['Acc']))
        for key, value in scores.items():
            if key not in ('aAcc', 'IoU', 'Acc'):
                metrics[f'm{key}'] = _pct(_nanmean(value))
        for name, ids in self._subsets(n).items():
            metrics[name] = _pct(_nanmean(iou[list(ids)]))
        names = self._class_names(n)
        for name, value in zip(names, iou):
            metrics[f'IoU.{name}'] = _pct(value)

        table = PrettyTable()
        table.add_column('Class', names)
        for key, value in scores.items():
            if key != 'aAcc':
                table.add_column(key, [_pct(v) for v in value])
        print_log('per class results:', logger)
        print_log('\n' + table.get_string(), logger=logger)
        summary = ', '.join(f'{k}: {v}' for k, v in metrics.items()
                            if not k.startswith('IoU.'))
        print_log(summary, logger=logger)
        if self.writer is not None:
            print_log(f'predictions written to {self.output_dir} '
                      f'({self.output_format})', logger)
        return metrics


def confusion_scores(conf: np.ndarray,
                     metrics: Sequence[str] = ('mIoU', ),
                     nan_to_num: Optional[int] = None,
                     beta: int = 1) -> dict:
    """MMSegmentation's per-class scores of a summed confusion matrix.

    Args:
        conf (np.ndarray): ``(C, C)`` counts, rows the label, columns the
            prediction.
        metrics (Sequence[str]): ``IoUMetric`` metric names. Defaults to
            ``('mIoU', )``.
        nan_to_num (int, optional): As in ``IoUMetric``. Defaults to None.
        beta (int): As in ``IoUMetric``. Defaults to 1.

    Returns:
        dict: ``IoUMetric.total_area_to_metrics``'s ``aAcc`` and per-class
        arrays (``IoU``, ``Acc``, ...); a class absent from both labels and
        predictions is NaN.
    """
    conf_t = torch.from_numpy(conf).double()
    intersect = torch.diagonal(conf_t)
    area_label, area_pred = conf_t.sum(1), conf_t.sum(0)
    union = area_label + area_pred - intersect
    with np.errstate(divide='ignore', invalid='ignore'):
        return IoUMetric.total_area_to_metrics(
            intersect, union, area_pred, area_label, list(metrics),
            nan_to_num, beta)


def _nanmean(values) -> float:
    values = np.asarray(values, dtype=np.float64)
    return float(np.nanmean(values)) if np.isfinite(values).any() \
        else float('nan')


def _pct(value) -> float:
    value = float(value)
    return float(np.round(value * 100, 2)) if np.isfinite(value) \
        else float('nan')
