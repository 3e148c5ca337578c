"""Writing a pseudo-label round: the label (and weight) PNGs, the
statistics and, last, the ``.complete.json`` that marks the round done."""
import os
import os.path as osp
import shutil
from typing import Dict, Optional, Sequence

import numpy as np
from mmengine.logging import print_log

from mmbdl.utils.errors import ConfigCheckError
from .class_confidence_histogram import IGNORE_INDEX
from .pseudo_label_io import (COMPLETE_FILE, PROGRESS_FILE, STATS_FILE,
                              pseudo_label_path, pseudo_weight_path,
                              write_json_atomic, write_label_png)
from .pseudo_label_statistics import PseudoLabelStatistics


def check_unique_labels(paths: Sequence[str], rels: Sequence[str]) -> None:
    """Refuse two target images that would share a pseudo-label file.

    Args:
        paths (Sequence[str]): Image paths.
        rels (Sequence[str]): Their pseudo-label names.
    """
    seen: Dict[str, str] = {}
    for path, rel in zip(paths, rels):
        if rel in seen:
            raise ConfigCheckError(
                f'target images {seen[rel]} and {path} map to the same '
                f'pseudo-label {rel}.png; keep one of them')
        seen[rel] = path


def write_pseudo_label(out_dir: str, rel: str, pred: np.ndarray,
                       conf: np.ndarray, gt: Optional[np.ndarray],
                       t32: np.ndarray, stats: PseudoLabelStatistics,
                       soft: bool) -> None:
    """Threshold one image's prediction and write its label PNG.

    Args:
        out_dir (str): The round folder.
        rel (str): The label's name relative to it (without ``.png``).
        pred (np.ndarray): uint8 argmax (255 in ignored margins).
        conf (np.ndarray): float32 confidence.
        gt (np.ndarray, optional): Target labels (statistics only).
        t32 (np.ndarray): float32 per-class thresholds.
        stats (PseudoLabelStatistics): Updated with the image.
        soft (bool): Keep every pixel and write its confidence as a weight
            PNG (0..255) instead of thresholding.
    """
    valid = pred < len(t32)
    safe = np.where(valid, pred, 0)
    if soft:
        keep = valid
        weight = np.where(valid, np.rint(conf * np.float32(255.0)),
                          0).astype(np.uint8)
        write_label_png(weight, pseudo_weight_path(out_dir, rel))
    else:
        keep = valid & (conf >= t32[safe])
        weight = None
    label = np.where(keep, pred, IGNORE_INDEX).astype(np.uint8)
    write_label_png(label, pseudo_label_path(out_dir, rel))
    stats.update(pred, keep, gt, weight)


def finish_round(out_dir: str, cache_dir: str, summary: Dict, meta: Dict,
                 logger) -> None:
    """Remove the cache, write the statistics and mark the round complete
    (main process only).

    Args:
        out_dir (str): The round folder.
        cache_dir (str): The round's cache folder.
        summary (dict): ``PseudoLabelStatistics.to_dict`` output.
        meta (dict): The ``.complete.json`` contents.
        logger (MMLogger): Logger.
    """
    if osp.isdir(cache_dir):
        shutil.rmtree(cache_dir, ignore_errors=True)
    write_json_atomic(summary, osp.join(out_dir, STATS_FILE))
    progress_marker = osp.join(out_dir, PROGRESS_FILE)
    if osp.exists(progress_marker):
        os.remove(progress_marker)
    write_json_atomic(meta, osp.join(out_dir, COMPLETE_FILE))
    accuracy = summary['accuracy_kept']
    logger.info(
        f'pseudo-labels written to {out_dir}: kept '
        f"{_pct(summary['kept_ratio'])} of the pixels" +
        (f', accuracy of kept pixels {_pct(accuracy)}'
         if accuracy is not None else '') + '\n' +
        PseudoLabelStatistics.format_table(summary))


def _pct(value: Optional[float]) -> str:
    return '-' if value is None else f'{100.0 * value:.2f}%'


def log_statistics(stats: Dict, logger=None) -> None:
    """Log a statistics dict as a table.

    Args:
        stats (dict): ``PseudoLabelStatistics.to_dict`` output.
        logger (optional): Logger or logger name. Defaults to 'current'.
    """
    print_log(PseudoLabelStatistics.format_table(stats),
              logger=logger or 'current')
