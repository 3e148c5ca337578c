"""The VFM-UDA release's warm-up + linear lr schedule, stepped per iteration.
"""
from typing import List, Optional

from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler

from mmbdl.registry import PARAM_SCHEDULERS
from mmbdl.utils.errors import ConfigCheckError


def _linspace_at(start: float, stop: float, num: int, i: int) -> float:
    """Entry ``i`` of ``numpy.linspace(start, stop, num)``, computed alone.

    Uses NumPy's own arithmetic (``start + i * (stop - start) / (num - 1)``,
    the last entry exactly ``stop``), so the values equal the release's
    table bit for bit without building it.
    """
    if num == 1 or i == 0:
        return float(start)
    if i == num - 1:
        return float(stop)
    return i * ((stop - start) / (num - 1)) + start


def warmup_linear_factor(i: int,
                         warmup_iters: int,
                         total_iters: int,
                         start_factor: float = 1e-3,
                         end_factor: float = 0.0) -> float:
    """The release's lr factor at iteration ``i`` (counted from 0).

    The VFM-UDA release's ``WarmupAndLinearScheduler`` (with ``base_lr=1``)
    concatenates ``linspace(start_factor, 1, warmup_iters)`` and
    ``linspace(1, end_factor, total_iters + 1)[warmup_iters:]``: the linear
    part is indexed by the absolute iteration, so the factor jumps from 1
    at ``warmup_iters - 1`` to ``1 - warmup_iters / total_iters`` at
    ``warmup_iters``, and reaches ``end_factor`` at ``i = total_iters``.
    Past ``total_iters`` (where the release's table ends) it stays at
    ``end_factor``.

    Args:
        i (int): Iteration, from 0.
        warmup_iters (int): Warm-up iterations (0: no warm-up).
        total_iters (int): Length of the linear decay's table (the
            release's ``max_steps``).
        start_factor (float): Factor at iteration 0. Defaults to 1e-3.
        end_factor (float): Factor at ``total_iters``. Defaults to 0.

    Returns:
        float: The lr factor.
    """
    if i < warmup_iters:
        return _linspace_at(start_factor, 1.0, warmup_iters, i)
    if i >= total_iters:
        return float(end_factor)
    return _linspace_at(1.0, end_factor, total_iters + 1, i)


@PARAM_SCHEDULERS.register_module()
class WarmupLinearLR(LRSchedulerMixin, _ParamScheduler):
    """The VFM-UDA release's lr schedule: linear warm-up, then linear decay.

    Every param group's lr is its initial lr times
    :func:`warmup_linear_factor` of the scheduler's step ``i``, counted
    from ``begin`` (MMEngine's ``last_step``), so inside a BDL phase ``i``
    is the phase's local iteration as for ``PolyLR``. The factor is
    computed from the step, not chained, so param groups with different lrs
    (head and backbone) keep their ratio.

    The decay's length ``total_iters`` defaults to ``end - begin``, the
    scheduler's own span, as MMEngine's ``PolyLR`` takes its horizon: in
    the BDL loop, where ``end`` defaults to the phase's end, it is the
    phase's length (give ``relative_warmup_iters`` for a warm-up that
    scales with the phase). Steps at or after ``end`` keep the last value
    (``1 / total_iters`` of the base lr); the release's final 0 at
    ``i = total_iters`` is never trained with either. Give ``total_iters``
    explicitly (e.g. 40000 with ``end=INF``) to reproduce the release's
    table including that last entry.

    Args:
        optimizer: Wrapped optimizer.
        start_factor (float): Factor at step 0 (the release's
            ``start_warmup_lr`` with ``base_lr=1``). Defaults to 1e-3.
        warmup_iters (int): Warm-up steps. Defaults to 1500 (the
            release's).
        total_iters (int, optional): Length of the decay table (the
            release's ``max_steps``, 40000). Defaults to None:
            ``end - begin``.
        end_factor (float): Factor at ``total_iters`` (the release's
            ``final_lr``). Defaults to 0.
        begin (int): First step the scheduler acts on. Defaults to 0.
        end (int): Step at which it stops acting. Defaults to INF.
        last_step (int): Defaults to -1.
        by_epoch (bool): Whether steps are epochs. Defaults to False (the
            release steps per iteration).
        verbose (bool): Defaults to False.

    Raises:
        ConfigCheckError: Without ``total_iters`` and ``end``, or for
            ``warmup_iters`` outside ``0..total_iters`` or a
            ``start_factor`` outside (0, 1].
    """

    def __init__(self,
                 optimizer,
                 start_factor: float = 1e-3,
                 warmup_iters: int = 1500,
                 total_iters: Optional[int] = None,
                 end_factor: float = 0.0,
                 begin: int = 0,
                 end: int = INF,
                 last_step: int = -1,
                 by_epoch: bool = False,
                 verbose: bool = False) -> None:
        if total_iters is None:
            if end == INF:
                raise ConfigCheckError(
                    'WarmupLinearLR needs total_iters or a finite end; set '
                    'end (e.g. the max_iters of train_cfg) or total_iters '
                    '(the release uses 40000)')
            total_iters = end - begin
        if not isinstance(total_iters, int) or total_iters < 1:
            raise ConfigCheckError(
                f'WarmupLinearLR: total_iters must be an int >= 1, got '
                f'{total_iters!r}')
        if not isinstance(warmup_iters, int) or not \
                0 <= warmup_iters <= total_iters:
            raise ConfigCheckError(
                f'WarmupLinearLR: warmup_iters must be an int in '
                f'0..total_iters ({total_iters}), got {warmup_iters!r}; '
                'lower warmup_iters (or use relative_warmup_iters in a BDL '
                'phase)')
        if not 0 < start_factor <= 1:
            raise ConfigCheckError(
                f'WarmupLinearLR: start_factor must be in (0, 1], got '
                f'{start_factor}')
        self.start_factor = float(start_factor)
        self.warmup_iters = warmup_iters
        self.total_iters = total_iters
        self.end_factor = float(end_factor)
        super().__init__(
            optimizer, begin=begin, end=end, last_step=last_step,
            by_epoch=by_epoch, verbose=verbose)

    def factor(self, step: int) -> float:
        """The lr factor at the scheduler's step ``step``."""
        return warmup_linear_factor(max(0, step), self.warmup_iters,
                                    self.total_iters, self.start_factor,
                                    self.end_factor)

    def _get_value(self) -> List[float]:
        factor = self.factor(self.last_step)
        return [base * factor for base in self.base_values]
