"""The evaluation of segmentation phases and the round table, a side effect
of the BDL loop kept by one hook the loop adds (:class:`RoundTableHook`).

After each segmentation phase the val loop runs on the target val set and
the phase's row is added to the round table (``work_dir/bdl_rounds.json`` /
``bdl_rounds.md``, :mod:`mmbdl.evaluation.round_table`). Checkpoint
selection within segmentation phases: a periodic evaluation every
``train_cfg.val_interval`` iterations, the best value of the headline
metric (``report_metric``) with its iteration and checkpoint
``<phase>_best.pth``, and which rule the round table's headline column and
the following phases use ('last' iteration or 'best' on val).
"""
import copy
import os.path as osp
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.dist import barrier, is_main_process
from mmengine.hooks import Hook

from mmbdl.evaluation.round_table import (MEANS, find_per_class_iou,
                                          find_pixel_ratio, write_round_files)
from mmbdl.utils.errors import ConfigCheckError
from mmbdl.utils.rng_state import get_rng, set_rng
from mmbdl.utils.runner_internals import resume_requested

# the artifact whose statistics give a row's pixel ratio (a phase kind's
# ``consumes`` entry)
ARTIFACT = 'pseudo_labels'
SELECTION_RULES = ('last', 'best')


# ----------------------------------------------------------------------
# the phase-end evaluation and its row
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


def round_row(phase, metrics: Dict, names: Sequence[str],
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
    if ARTIFACT in phase.spec.consumes:
        ratio = find_pixel_ratio(pseudo_label_stats)
    row['ssl_pixel_ratio'] = ratio
    return row


def add_phase_row(runner, model, phase, rows: List[dict],
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
            and the headline by its rule to the row. Defaults to None.
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


# ----------------------------------------------------------------------
# checkpoint selection within segmentation phases
def best_checkpoint_name(phase) -> str:
    """File name of a phase's best checkpoint: ``<phase>_best.pth``."""
    return f'{phase.name}_best.pth'


class PhaseSelection:
    """Tracks the best evaluation of each segmentation phase.

    The periodic evaluation runs at local iterations ``val_interval``,
    ``2 * val_interval``, ... before the end of a segmentation phase; the
    phase-end evaluation (the round-table row) is the last candidate. Every
    new best (strictly higher ``report_metric``; the earlier one wins ties)
    saves the weights as ``<phase>_best.pth``; with ``val_interval=None``
    (no selection: the phase-end evaluation is the only candidate) none is
    written and the record names the phase checkpoint ``<phase>.pth``. The
    RNG states are restored after each periodic evaluation, so evaluating
    does not change training: the last-iteration results are the same with
    any ``val_interval``.

    Args:
        val_interval (int, optional): Iterations between evaluations within
            a segmentation phase. None: only the phase-end evaluation.
        headline (str): Rule of the round table's headline column and gains:
            'last' (the phase's last iteration; needs no target labels to
            choose) or 'best' (best on val). Defaults to 'last'.
        continue_from (str): Weights the next phase starts from: 'last' or
            'best' (``<phase>_best.pth``). Defaults to 'last'.
        report_metric (str): Headline metric, e.g. 'mIoU', 'mIoU16',
            'mIoU13'. Defaults to 'mIoU'.
    """

    def __init__(self,
                 val_interval: Optional[int] = None,
                 headline: str = 'last',
                 continue_from: str = 'last',
                 report_metric: str = 'mIoU') -> None:
        if val_interval is not None and (
                not isinstance(val_interval, int) or val_interval < 1):
            raise ConfigCheckError(
                f'train_cfg.val_interval must be a positive number of '
                f'iterations or None, got {val_interval!r}')
        for key, value in (('headline', headline),
                           ('continue_from', continue_from)):
            if value not in SELECTION_RULES:
                raise ConfigCheckError(
                    f"train_cfg.{key} must be 'last' or 'best', got "
                    f'{value!r}')
        self.val_interval = val_interval
        self.headline = headline
        self.continue_from = continue_from
        self.report_metric = report_metric
        self.best: Dict[str, dict] = {}

    # ------------------------------------------------------------------
    def table_info(self) -> dict:
        """What the round table states about its selection rules."""
        return dict(selection=self.headline, report_metric=self.report_metric,
                    val_interval=self.val_interval,
                    continue_from=self.continue_from)

    def due(self, phase, global_iter: int) -> bool:
        """Whether a periodic evaluation is due before ``global_iter``."""
        local = global_iter - phase.begin
        return bool(self.val_interval and phase.is_segmentation
                    and 0 < local < phase.iters
                    and local % self.val_interval == 0)

    def maybe_evaluate(self, runner, model, phase,
                       global_iter: int) -> None:
        """Evaluate (with the RNG states kept) if one is due.

        Args:
            runner (Runner): The runner.
            model (nn.Module): The unwrapped BDL model.
            phase (Phase): The current phase.
            global_iter (int): Iterations trained so far.
        """
        if not self.due(phase, global_iter):
            return
        rng = get_rng()
        metrics = evaluate_phase(runner, model, True)
        set_rng(rng)
        if metrics:
            self.update(runner, phase, metrics, global_iter)

    def update(self, runner, phase, metrics: Dict,
               global_iter: int) -> None:
        """Record an evaluation; a new best saves ``<phase>_best.pth``.

        Args:
            runner (Runner): The runner.
            phase (Phase): The phase.
            metrics (dict): Metrics without prefixes.
            global_iter (int): Iterations trained when evaluated.
        """
        value = to_float(metrics.get(self.report_metric))
        if value is None:
            raise KeyError(
                f'report_metric {self.report_metric!r} is not among the val '
                f'metrics {sorted(metrics)}; set report_metric to one of them')
        current = self.best.get(phase.name)
        if current is not None and current['iter'] == global_iter:
            return  # evaluated already (a resumed phase end)
        runner.logger.info(
            f'{phase.name}: {self.report_metric} {value:.2f} at iteration '
            f'{global_iter}' + ('' if current is None else
                                f' (best so far {current["value"]:.2f} at '
                                f'{current["iter"]})'))
        if current is not None and value <= current['value']:
            return
        if self.val_interval is None:
            # only the phase-end evaluation: nothing selects a best, and
            # the phase checkpoint holds these weights already
            name = f'{phase.name}.pth'
        else:
            name = best_checkpoint_name(phase)
            runner.save_checkpoint(
                runner.work_dir, name, save_optimizer=False,
                save_param_scheduler=False,
                meta=dict(iter=global_iter, epoch=0))
        self.best[phase.name] = dict(metric=self.report_metric, value=value,
                                     iter=global_iter, checkpoint=name)

    def finish_row(self, runner, phase, row: dict) -> dict:
        """Add the phase-end evaluation and both selection rules to a row.

        Args:
            runner (Runner): The runner.
            phase (Phase): The finished segmentation phase.
            row (dict): Its row (``metrics`` from the phase-end evaluation).

        Returns:
            dict: The row with ``report_metric``, ``last_value`` (headline
            metric at the last iteration), ``best`` (``metric, value, iter,
            checkpoint``) and ``headline`` (by the table's rule).
        """
        metrics = row.get('metrics') or {}
        if metrics:
            self.update(runner, phase, metrics, phase.end)
        row['report_metric'] = self.report_metric
        row['last_value'] = metrics.get(self.report_metric)
        row['best'] = dict(self.best[phase.name]) \
            if phase.name in self.best else None
        if self.headline == 'best' and row['best']:
            row['headline'] = row['best']['value']
        else:
            row['headline'] = row['last_value']
        return row

    def continue_with_best(self, runner, model, phase) -> None:
        """Load the phase's best segmentor if ``continue_from='best'``.

        Args:
            runner (Runner): The runner.
            model (nn.Module): The unwrapped BDL model.
            phase (Phase): The finished segmentation phase.
        """
        best = self.best.get(phase.name)
        if self.continue_from != 'best' or best is None or \
                best['iter'] == phase.end:
            return
        barrier()
        path = osp.join(runner.work_dir, best['checkpoint'])
        state = torch.load(path, map_location='cpu', weights_only=False)
        prefix = 'segmentor.'
        weights = {k[len(prefix):]: v
                   for k, v in state['state_dict'].items()
                   if k.startswith(prefix)}
        model.segmentor.load_state_dict(weights, strict=True)
        runner.logger.info(
            f'{phase.name}: continuing from its best checkpoint '
            f'({best["checkpoint"]}, {best["metric"]} {best["value"]:.2f} at '
            f'iteration {best["iter"]}) instead of the last iteration')

    # ------------------------------------------------------------------
    def state_dict(self) -> dict:
        """The best records, for checkpoints."""
        return {name: dict(best) for name, best in self.best.items()}

    def load_state_dict(self, state: Optional[dict]) -> None:
        """Restore :meth:`state_dict` (a resumed run)."""
        self.best = {name: dict(best) for name, best in (state or {}).items()}


class RoundTableHook(Hook):
    """The round table of a BDL run and the checkpoint selection behind it.

    Added by :class:`~mmbdl.engine.runner.BidirectionalTrainLoop` itself
    (users never configure it), which calls it at fixed points of its
    schedule: :meth:`maybe_evaluate` before each iteration,
    :meth:`finish_phase` after each phase's ``after_phase`` hooks and
    :meth:`write_table` after the last phase. The best records of the
    phases travel through checkpoints (``meta['bdl_selection']``), the rows
    so far as the message-hub info ``bdl_rounds``.

    Args:
        val_after_phases (bool): Evaluate each segmentation phase at its
            end (``train_cfg.val_after_phases``). Defaults to True.
        val_interval (int, optional): See :class:`PhaseSelection`.
        headline (str): See :class:`PhaseSelection`.
        continue_from (str): See :class:`PhaseSelection`.
        report_metric (str): See :class:`PhaseSelection`.
    """

    priority = 'VERY_HIGH'

    def __init__(self,
                 val_after_phases: bool = True,
                 val_interval: Optional[int] = None,
                 headline: str = 'last',
                 continue_from: str = 'last',
                 report_metric: str = 'mIoU') -> None:
        self.val_after_phases = val_after_phases
        self.selection = PhaseSelection(val_interval, headline,
                                        continue_from, report_metric)
        self.rows: List[dict] = []

    def restore_rows(self, message_hub) -> None:
        """Take the rows of a resumed run from the message hub."""
        stored = message_hub.get_info('bdl_rounds')
        if stored:
            self.rows = [dict(r) for r in stored]

    def maybe_evaluate(self, runner, model, phase, global_iter: int) -> None:
        """The periodic evaluation, if one is due
        (:meth:`PhaseSelection.maybe_evaluate`)."""
        self.selection.maybe_evaluate(runner, model, phase, global_iter)

    def finish_phase(self, runner, model, phase, train_dataloader,
                     pseudo_label_stats=None) -> None:
        """A segmentation phase's evaluation and row (then its best weights
        if ``continue_from='best'``); the rows published for any phase.

        Args:
            runner (Runner): The runner.
            model (nn.Module): The unwrapped BDL model.
            phase (Phase): The finished phase.
            train_dataloader: The phase's dataloader (for class names).
            pseudo_label_stats (dict, optional): The loop's
                ``PhaseArtifacts.pseudo_label_stats``. Defaults to None.
        """
        if phase.is_segmentation:
            self.rows = add_phase_row(
                runner, model, phase, self.rows, train_dataloader,
                self.val_after_phases, self.selection, pseudo_label_stats)
            self.selection.continue_with_best(runner, model, phase)
        runner.message_hub.update_info('bdl_rounds', copy.deepcopy(self.rows))

    def write_table(self, runner, train_dataloader) -> None:
        """Write and log the final round table (main process)."""
        if self.rows and is_main_process():
            table = write_round_files(
                runner.work_dir, self.rows,
                class_names(runner, train_dataloader),
                **self.selection.table_info())
            runner.logger.info(
                'BDL rounds (work_dir/bdl_rounds.md):\n' + table)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['meta']['bdl_selection'] = self.selection.state_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if resume_requested(runner):
            self.selection.load_state_dict(
                checkpoint.get('meta', {}).get('bdl_selection'))
