"""The end of a segmentation phase: its evaluation on the target val set
and its row of the round table (``work_dir/bdl_rounds.json`` / ``.md``)."""
from typing import Dict, List, Optional, Sequence

from mmengine.dist import is_main_process

from .phase_kinds import PSEUDO_LABELS
from .phase_plan import Phase
from .round_table import (MEANS, find_per_class_iou, find_pixel_ratio,
                          write_round_files)


def to_float(value) -> Optional[float]:
    """A metric value as a float, None if it is not a scalar."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hasattr(value, 'item'):
        try:
            return float(value.item())
        except (ValueError, RuntimeError, TypeError):
            return None
    return None


def class_names(runner, train_dataloader) -> List[str]:
    """Class names of the val set, else of the phase's training set.

    Args:
        runner (Runner): The runner.
        train_dataloader: The current phase's dataloader (or None).

    Returns:
        list[str]: Empty when neither set names its classes.
    """
    # no val set configured: val_loop is None; any other failure (e.g. a
    # val data set that cannot be built) propagates
    loader = runner.val_loop.dataloader if runner.val_loop is not None \
        else None
    meta = getattr(getattr(loader, 'dataset', None), 'metainfo', None)
    if meta and meta.get('classes'):
        return list(meta['classes'])
    meta = getattr(train_dataloader, 'dataset', None)
    meta = getattr(meta, 'metainfo', None)
    if meta and meta.get('classes'):
        return list(meta['classes'])
    return []


def evaluate_phase(runner, model, enabled: bool) -> Dict:
    """Run the val loop (if any and ``enabled``) and return its metrics.

    Args:
        runner (Runner): The runner.
        model (nn.Module): The unwrapped model, put back in train mode.
        enabled (bool): ``train_cfg.val_after_phases``.

    Returns:
        dict: Metrics without their prefixes (``'prefix/mIoU'`` ->
        ``'mIoU'``); empty when nothing was evaluated.
    """
    metrics = {}
    if enabled and runner.val_loop is not None:
        metrics = runner.val_loop.run() or {}
        model.train()
    return {k.split('/')[-1]: v for k, v in metrics.items()}


def round_row(phase: Phase, metrics: Dict, names: Sequence[str],
              pseudo_label_stats=None) -> Dict:
    """The round-table row of a finished segmentation phase.

    Args:
        phase (Phase): The phase.
        metrics (dict): Its metrics, see :func:`evaluate_phase`.
        names (Sequence[str]): Class names.
        pseudo_label_stats (dict, optional): The loop's
            ``PhaseArtifacts.pseudo_label_stats`` (used for phases that
            consume pseudo-labels).

    Returns:
        dict: ``phase, model, k, i, kind, iter, metrics, per_class, mIoU,
        mIoU16, mIoU13, ssl_pixel_ratio`` (a mean the metric does not
        report is None).
    """
    row = dict(phase=phase.name, model=phase.model_name, k=phase.k,
               i=phase.i, kind=phase.kind, iter=phase.end)
    row['metrics'] = {}
    for key, value in metrics.items():
        value = to_float(value)
        if value is not None:
            row['metrics'][key] = value
    row['per_class'] = find_per_class_iou(metrics, names)
    # the three means of the BDL protocol (SYNTHIA: mIoU16 / mIoU13)
    for mean in MEANS:
        row[mean] = row['metrics'].get(mean)
    ratio = None
    if PSEUDO_LABELS in phase.spec.consumes:
        ratio = find_pixel_ratio(pseudo_label_stats)
    row['ssl_pixel_ratio'] = ratio
    return row


def add_phase_row(runner, model, phase: Phase, rows: List[dict],
                  train_dataloader, val_after_phases: bool,
                  selection=None, pseudo_label_stats=None) -> List[dict]:
    """Evaluate a finished segmentation phase and add its row.

    Args:
        runner (Runner): The runner.
        model (nn.Module): The unwrapped model.
        phase (Phase): The finished phase.
        rows (list[dict]): The rows so far.
        train_dataloader: The phase's dataloader (for class names).
        val_after_phases (bool): Whether to evaluate.
        selection (PhaseSelection, optional): Adds the best-on-val record
            and the headline by its rule to the row (``.phase_selection``).
            Defaults to None.
        pseudo_label_stats (dict, optional): Statistics of the phase's
            pseudo-labels (the loop's artifacts). Defaults to None.

    Returns:
        list[dict]: The rows with the phase's row replacing an earlier one
        of the same phase; written to the work dir on the main process.
    """
    metrics = evaluate_phase(runner, model, val_after_phases)
    names = class_names(runner, train_dataloader)
    row = round_row(phase, metrics, names, pseudo_label_stats)
    info = {}
    if selection is not None:
        row = selection.finish_row(runner, phase, row)
        info = selection.table_info()
    rows = [r for r in rows if r['phase'] != phase.name]
    rows.append(row)
    if is_main_process():
        table = write_round_files(runner.work_dir, rows, names, **info)
        runner.logger.info(f'BDL rounds so far:\n{table}')
    return rows
