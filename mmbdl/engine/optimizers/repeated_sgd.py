"""PyTorch 0.4.0's SGD over a parameter list that repeats parameters."""
from typing import Callable, Optional

import torch
from torch.optim import Optimizer

from mmbdl.registry import OPTIMIZERS
from mmbdl.utils.errors import ConfigCheckError


@OPTIMIZERS.register_module()
class RepeatedSGD(Optimizer):
    """SGD as PyTorch 0.4.0 ran it over a list with repeated parameters.

    The BDL release builds its DeepLab-v2 optimizer from
    ``get_1x_lr_params_NOscale``, which yields a backbone parameter once for
    every module that encloses it below ``conv1`` / ``bn1`` / ``layer1..4``
    (three times for a bottleneck convolution, four times for a shortcut
    convolution). PyTorch 0.4.0's ``SGD.step`` walked that list entry by
    entry, so each parameter got ``k`` consecutive updates per step, each of

    1. ``grad += weight_decay * param`` (in place: the decay accumulates on
       the gradient over the ``k`` entries),
    2. ``buf = momentum * buf + (1 - dampening) * grad`` (``buf = grad`` on
       the very first entry),
    3. ``param -= lr * buf`` (``grad + momentum * buf`` with Nesterov).

    Each param group carries ``repeat`` (``k``, default 1), set by
    :class:`ReleaseParamListOptimWrapperConstructor` from the module nesting.
    With every ``repeat`` equal to 1 this is ``torch.optim.SGD``. The
    parameter's ``.grad`` is left unchanged (the release's in-place decay is
    applied to a copy; every training step starts from zeroed gradients).

    Args:
        params: Parameters or param groups (each may set ``repeat``).
        lr (float): Learning rate.
        momentum (float): Defaults to 0.
        dampening (float): Defaults to 0.
        weight_decay (float): Defaults to 0.
        nesterov (bool): Defaults to False.
        repeat (int): Default ``repeat`` of groups without one. Defaults
            to 1.
    """

    def __init__(self,
                 params,
                 lr: float,
                 momentum: float = 0.0,
                 dampening: float = 0.0,
                 weight_decay: float = 0.0,
                 nesterov: bool = False,
                 repeat: int = 1) -> None:
        if lr < 0.0:
            raise ConfigCheckError(f'Invalid learning rate: {lr}')
        if momentum < 0.0:
            raise ConfigCheckError(f'Invalid momentum value: {momentum}')
        if weight_decay < 0.0:
            raise ConfigCheckError(
                f'Invalid weight_decay value: {weight_decay}')
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ConfigCheckError(
                'Nesterov momentum requires a momentum and zero dampening')
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov,
                        repeat=repeat)
        super().__init__(params, defaults)
        for group in self.param_groups:
            if not isinstance(group['repeat'], int) or group['repeat'] < 1:
                raise ConfigCheckError(
                    f"param group 'repeat' must be an int >= 1, got "
                    f"{group['repeat']!r}")

    @torch.no_grad()
    def step(self, closure: Optional[Callable] = None):
        """One optimisation step.

        Args:
            closure (Callable, optional): Re-evaluates the loss.

        Returns:
            The closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, momentum = group['lr'], group['momentum']
            dampening, nesterov = group['dampening'], group['nesterov']
            weight_decay = group['weight_decay']
            for param in group['params']:
                if param.grad is None:
                    continue
                grad = param.grad.detach().clone()
                state = self.state[param]
                for _ in range(group['repeat']):
                    if weight_decay != 0:
                        grad.add_(param, alpha=weight_decay)
                    step = grad
                    if momentum != 0:
                        buf = state.get('momentum_buffer')
                        if buf is None:
                            buf = grad.clone()
                            state['momentum_buffer'] = buf
                        else:
                            buf.mul_(momentum).add_(grad, alpha=1 - dampening)
                        step = grad.add(buf, alpha=momentum) if nesterov \
                            else buf
                    param.add_(step, alpha=-lr)
        return loss
