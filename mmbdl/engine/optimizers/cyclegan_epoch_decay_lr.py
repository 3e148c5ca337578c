"""The CycleGAN learning-rate rule of the BDL release, stepped per epoch."""
from typing import List, Optional

from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler

from mmbdl.registry import PARAM_SCHEDULERS
from mmbdl.utils.errors import ConfigCheckError


def release_epoch_factor(epoch: int,
                         constant_epochs: int = 10,
                         decay_epochs: int = 10,
                         epoch_count: int = 1) -> float:
    """The release's lr factor of epoch ``epoch`` (counted from 0).

    The release's ``cyclegan/networks.py`` (policy 'lambda') uses
    ``1 - max(0, epoch + 1 + epoch_count - niter) / (niter_decay + 1)`` with
    ``niter = constant_epochs``, ``niter_decay = decay_epochs`` and
    ``epoch_count = 1``: nine epochs at the full lr, then 10/11 ... 1/11 and
    0 for the last of 20 epochs.

    Args:
        epoch (int): Epoch index, from 0.
        constant_epochs (int): ``niter``. Defaults to 10.
        decay_epochs (int): ``niter_decay``. Defaults to 10.
        epoch_count (int): The release's starting epoch count. Defaults to 1.

    Returns:
        float: The lr factor.
    """
    return 1.0 - max(0, epoch + 1 + epoch_count - constant_epochs) / float(
        decay_epochs + 1)


@PARAM_SCHEDULERS.register_module()
class CycleGANEpochDecayLR(LRSchedulerMixin, _ParamScheduler):
    """The release's per-epoch CycleGAN lr decay (``LambdaLR``).

    The factor changes once per epoch (:func:`release_epoch_factor`), unlike
    the per-iteration ``LinearLR`` decay of MMagic's CycleGAN configs. With
    ``by_epoch=False`` (iteration-based loops, e.g. the BDL translation
    phase) the epoch is ``step // iters_per_epoch`` of the scheduler's own
    step count, so inside the BDL loop it counts the phase's iterations.

    Args:
        optimizer: Wrapped optimizer.
        iters_per_epoch (int, optional): Iterations per epoch; required when
            ``by_epoch=False``. Defaults to None.
        constant_epochs (int): Epochs before the decay (``niter``).
            Defaults to 10.
        decay_epochs (int): Decay epochs (``niter_decay``). Defaults to 10.
        epoch_count (int): The release's ``epoch_count``. Defaults to 1.
        begin (int): First step the scheduler acts on. Defaults to 0.
        end (int): Step at which it stops acting. Defaults to INF.
        last_step (int): Defaults to -1.
        by_epoch (bool): Whether steps are epochs. Defaults to False.
        verbose (bool): Defaults to False.
    """

    def __init__(self,
                 optimizer,
                 iters_per_epoch: Optional[int] = None,
                 constant_epochs: int = 10,
                 decay_epochs: int = 10,
                 epoch_count: int = 1,
                 begin: int = 0,
                 end: int = INF,
                 last_step: int = -1,
                 by_epoch: bool = False,
                 verbose: bool = False) -> None:
        if not by_epoch and (iters_per_epoch is None or iters_per_epoch < 1):
            raise ConfigCheckError(
                'CycleGANEpochDecayLR with by_epoch=False needs '
                f'iters_per_epoch >= 1, got {iters_per_epoch}; set it to '
                'ceil(data set length / total batch size)')
        self.iters_per_epoch = 1 if by_epoch else int(iters_per_epoch)
        self.constant_epochs = constant_epochs
        self.decay_epochs = decay_epochs
        self.epoch_count = epoch_count
        super().__init__(
            optimizer, begin=begin, end=end, last_step=last_step,
            by_epoch=by_epoch, verbose=verbose)

    def _get_value(self) -> List[float]:
        epoch = max(0, self.last_step) // self.iters_per_epoch
        factor = release_epoch_factor(epoch, self.constant_epochs,
                                      self.decay_epochs, self.epoch_count)
        return [base * factor for base in self.base_values]
