"""Stopping on a NaN or infinite loss without a host sync in every step."""
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import MessageHub
from torch import Tensor

# steps between two reads of the flags on an accelerator (MMEngine's
# LoggerHook logs every 50 iterations by default)
DEVICE_INTERVAL = 50


class FiniteLossCheck:
    """Raises ``FloatingPointError`` once a loss is NaN or infinite.

    Reading a loss on the host (``float(loss)``) waits for the device to
    finish the step, so it is not done in every step on an accelerator:
    each call stores the loss sums as one device tensor, and the stored
    values are read together every ``interval`` calls (one transfer) and
    on :meth:`flush`. The error names the loss and the iteration where it
    first went wrong. Losses on the CPU are read at once (``interval`` 1
    by default there: no device to wait for), so training stops before the
    update of the step that produced the loss.

    Args:
        interval (int, optional): Calls between two reads. None: 1 for
            losses on the CPU, :data:`DEVICE_INTERVAL` (50) on an
            accelerator. 1 stops every run before the bad update, at the
            cost of one host sync per step. Defaults to None.
        owner (str): Named in the error. Defaults to
            'AdvSelfTrainingSegmentor'.
    """

    def __init__(self,
                 interval: Optional[int] = None,
                 owner: str = 'AdvSelfTrainingSegmentor') -> None:
        if interval is not None and int(interval) < 1:
            raise ValueError(f'interval={interval} must be >= 1 or None')
        self.interval = None if interval is None else int(interval)
        self.owner = owner
        self._pending: List[Tuple[Optional[int], List[str], Tensor]] = []

    def interval_for(self, device: torch.device) -> int:
        """The read interval used for losses on ``device``."""
        if self.interval is not None:
            return self.interval
        return 1 if device.type == 'cpu' else DEVICE_INTERVAL

    def __call__(self, losses: Dict[str, Union[Tensor, Sequence[Tensor]]]
                 ) -> None:
        """Record the ``loss*`` entries of ``losses`` (read when due).

        Args:
            losses (dict): Loss name to a tensor or a list of tensors.
        """
        names, sums = [], []
        for name, value in losses.items():
            if 'loss' not in name:
                continue
            if isinstance(value, Tensor):
                sums.append(value.detach().float().sum())
            else:
                sums.append(
                    torch.stack([v.detach().float().sum()
                                 for v in value]).sum())
            names.append(name)
        if not names:
            return
        totals = torch.stack(sums)
        self._pending.append((MessageHub.get_current_instance().get_info(
            'iter'), names, totals))
        if len(self._pending) >= self.interval_for(totals.device):
            self.flush()

    @property
    def pending(self) -> int:
        """int: Steps recorded but not yet read."""
        return len(self._pending)

    def flush(self) -> None:
        """Read every recorded step (one host sync) and raise on the first
        non-finite loss."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        values = torch.cat([t.to('cpu', torch.float64)
                            for _, _, t in pending]).tolist()
        pos = 0
        for index, (it, names, _) in enumerate(pending):
            for name in names:
                value = values[pos]
                pos += 1
                if not math.isfinite(value):
                    raise FloatingPointError(self._message(
                        name, value, it, len(pending) - 1 - index))

    def _message(self, name: str, value: float, it: Optional[int],
                 later: int) -> str:
        where = f'iteration {it}' if it is not None else \
            'an unknown iteration (no runner)'
        if later == 0:
            when = 'training stopped before the update'
        else:
            when = (f'found {later} steps later (on an accelerator '
                    'the losses are read every '
                    f'{self.interval or DEVICE_INTERVAL} steps; '
                    'uda_cfg.check_finite_interval=1 stops before the '
                    'update at one host sync per step)')
        return (f'{self.owner}: loss {name} = {value} at {where}; {when}. '
                'Lower the learning rate, check the input data, or disable '
                '--amp')
