"""Checkpoint selection within segmentation phases: a periodic evaluation on
the target val set every ``train_cfg.val_interval`` iterations, the best
value of the headline metric (``report_metric``) with its iteration and
checkpoint ``<phase>_best.pth``, and which rule the round table's headline
column and the following phases use ('last' iteration or 'best' on val)."""
import os.path as osp
from typing import Dict, Optional

import torch
from mmengine.dist import barrier
from mmengine.hooks import Hook

from mmbdl.utils.errors import ConfigCheckError
from mmbdl.utils.runner_internals import resume_requested
from .loop_state import get_rng, set_rng
from .phase_plan import Phase
from .phase_validation import evaluate_phase, to_float

SELECTION_RULES = ('last', 'best')


def best_checkpoint_name(phase: Phase) -> str:
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

    def due(self, phase: Phase, global_iter: int) -> bool:
        """Whether a periodic evaluation is due before ``global_iter``."""
        local = global_iter - phase.begin
        return bool(self.val_interval and phase.is_segmentation
                    and 0 < local < phase.iters
                    and local % self.val_interval == 0)

    def maybe_evaluate(self, runner, model, phase: Phase,
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

    def update(self, runner, phase: Phase, metrics: Dict,
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

    def finish_row(self, runner, phase: Phase, row: dict) -> dict:
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

    def continue_with_best(self, runner, model, phase: Phase) -> None:
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


class PhaseSelectionStateHook(Hook):
    """Carries :class:`PhaseSelection`'s records through checkpoints
    (``meta['bdl_selection']``); added by the loop.

    Args:
        selection (PhaseSelection): The records to carry.
    """

    priority = 'VERY_HIGH'

    def __init__(self, selection: PhaseSelection) -> None:
        self.selection = selection

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['meta']['bdl_selection'] = self.selection.state_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if resume_requested(runner):
            self.selection.load_state_dict(
                checkpoint.get('meta', {}).get('bdl_selection'))
