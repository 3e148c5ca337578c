"""Memory-bounded backpropagation through the frozen perceptual model M.

The perceptual loss of :class:`PerceptualCycleGAN` sends four generated
images per sample (translated and reconstructed, both directions) through M
with gradients. Backpropagating the sum of all terms in one graph keeps M's
activations for all of them alive at once: with the DeepLabV2-R101 M on
452x452 crops about 2.5 GB per image and pass. Two tools bound that:

- :func:`input_gradient`: the gradient of one perceptual term with respect
  to the generated image, computed one term and ``chunk`` samples at a time
  (M is in eval mode, so its output for a sample does not depend on the
  other samples of the batch). M's graph is freed before the next pass.
  :class:`InjectGradient` then hands that gradient to the generators' graph
  in the one backward pass of the generator loss, so the optimizer wrapper
  (gradient accumulation, DDP) sees an ordinary loss. Under float16 AMP
  the inner backward through M happens outside the wrapper's
  ``GradScaler``: it is therefore scaled by the scaler's current scale
  (``scale``, a device scalar: no host sync) so that M's float16
  gradients do not underflow, exactly as in a scaled joint backward, and
  divided by it again in float32. Overflows stay infinite, so the scaler
  skips the step and lowers its scale as it would for the joint graph.
- :func:`enable_activation_checkpointing`: non-reentrant activation
  checkpointing of M's residual blocks; only their inputs are stored and each
  block is recomputed during the backward pass.

Both give the gradients of the joint computation up to float rounding.
"""
from typing import Callable, List, Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor
from torch.utils.checkpoint import checkpoint


class InjectGradient(torch.autograd.Function):
    """``value`` in the forward pass, ``grad_out * grad`` for ``img`` back.

    ``InjectGradient.apply(img, grad, value)`` returns a copy of the scalar
    ``value`` (the loss already computed elsewhere) whose gradient with
    respect to ``img`` is ``grad`` (the precomputed ``d value / d img``).
    """

    @staticmethod
    def forward(ctx, img: Tensor, grad: Tensor, value: Tensor) -> Tensor:
        ctx.save_for_backward(grad)
        ctx.img_dtype = img.dtype
        return value.detach().clone()

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> Tuple[Tensor, None, None]:
        grad, = ctx.saved_tensors
        # the product in float32 (``grad`` is float32): ``grad_out`` carries
        # the outer loss scale, which a float16 ``grad`` could not hold
        return (grad_out.float() * grad).to(ctx.img_dtype), None, None


def input_gradient(loss_fn: Callable[[Tensor, slice], Tensor],
                   img: Tensor,
                   chunk: int,
                   scale: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    """Value and input gradient of a batch-mean loss, ``chunk`` samples a pass.

    Args:
        loss_fn (Callable): ``loss_fn(x, sl)`` returns the loss of the
            samples ``sl`` of the batch (``x = img[sl]``) as a mean over them.
        img (Tensor): ``(N, C, H, W)`` images (the generator outputs).
        chunk (int): Samples per pass; ``<= 0`` means the whole batch.
        scale (Tensor, optional): The AMP loss scale (a scalar tensor on
            ``img``'s device, e.g. from :func:`loss_scale_of`). Each pass
            backpropagates ``loss * scale`` and the gradient is divided by
            ``scale`` in float32. None: no scaling (float32 and bfloat16
            training). Defaults to None.

    Returns:
        tuple[Tensor, Tensor]: The batch loss (the mean over all samples,
        detached, float32) and its gradient with respect to ``img``
        (float32, unscaled).
    """
    num = img.shape[0]
    chunk = num if chunk <= 0 else min(chunk, num)
    grad = torch.empty(img.shape, dtype=torch.float32, device=img.device)
    total = img.new_zeros((), dtype=torch.float32)
    for start in range(0, num, chunk):
        sl = slice(start, min(start + chunk, num))
        x = img[sl].detach().requires_grad_(True)
        with torch.enable_grad():
            loss = loss_fn(x, sl) * ((sl.stop - sl.start) / num)
        if scale is None:
            g, = torch.autograd.grad(loss, x)
            grad[sl] = g.float()
        else:
            g, = torch.autograd.grad(loss * scale, x)
            grad[sl] = g.float() / scale.float()
        total = total + loss.detach().float()
        del x, loss, g
    return total, grad


def loss_scale_of(optim_wrapper, device: torch.device) -> Optional[Tensor]:
    """The current loss scale of an optimizer wrapper, as a device scalar.

    Args:
        optim_wrapper (OptimWrapper | None): E.g. MMEngine's
            ``AmpOptimWrapper`` (its ``loss_scaler`` is a ``GradScaler``).
        device (torch.device): Where the scale is needed.

    Returns:
        Tensor | None: ``GradScaler.scale`` of a one (no host sync), or
        None when the wrapper scales nothing (plain ``OptimWrapper``,
        bfloat16 AMP, a disabled scaler).
    """
    scaler = getattr(optim_wrapper, 'loss_scaler', None)
    if scaler is None or not getattr(scaler, 'is_enabled', lambda: True)():
        return None
    return scaler.scale(torch.ones((), dtype=torch.float32, device=device))


class _CheckpointedForward:
    """A module's forward that checkpoints itself when gradients are needed.

    Installed as the instance's ``forward``; without a grad-requiring tensor
    input (M's no-grad passes, inference) it is the plain forward.
    """

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.plain = type(module).forward
        # random layers (dropout) must see the same draws when recomputed
        self.rng = any(isinstance(m, nn.modules.dropout._DropoutNd)
                       for m in module.modules())

    def __call__(self, *args, **kwargs):
        if torch.is_grad_enabled() and any(
                isinstance(a, Tensor) and a.requires_grad for a in args):
            return checkpoint(self.plain, self.module, *args,
                              use_reentrant=False,
                              preserve_rng_state=self.rng, **kwargs)
        return self.plain(self.module, *args, **kwargs)


def checkpoint_units(model: nn.Module) -> List[nn.Module]:
    """The blocks of a segmentor that are worth checkpointing one by one.

    Residual blocks of MMSegmentation/MMCV backbones (modules with a
    ``with_cp`` switch, e.g. ``BasicBlock``/``Bottleneck`` of ``ResNet`` and
    of mmbdl's ``DeepLabV2ResNet``); for other backbones every child of each
    ``nn.Sequential`` stage with parameters.

    Args:
        model (nn.Module): The perceptual segmentor.

    Returns:
        list[nn.Module]: The blocks, in module order.
    """
    root = getattr(model, 'backbone', model)
    flagged = [m for m in root.modules() if hasattr(m, 'with_cp')]
    # the blocks themselves, not the backbone that also has a with_cp switch
    units = [m for m in flagged
             if not any(o is not m and hasattr(o, 'with_cp')
                        for o in m.modules())]
    if not units:
        units = [
            child for m in root.modules() if isinstance(m, nn.Sequential)
            for child in m.children()
            if any(True for _ in child.parameters())
            and not isinstance(child, nn.Sequential)
        ]
    return units


def enable_activation_checkpointing(model: nn.Module) -> int:
    """Checkpoint every block of :func:`checkpoint_units` (non-reentrant).

    Args:
        model (nn.Module): The frozen perceptual segmentor (eval mode, so
            the recomputation gives the same activations).

    Returns:
        int: Number of checkpointed blocks (0: nothing found).
    """
    units = checkpoint_units(model)
    for unit in units:
        if not isinstance(unit.__dict__.get('forward'), _CheckpointedForward):
            unit.forward = _CheckpointedForward(unit)
    return len(units)


def checkpoint_modules(modules) -> int:
    """Checkpoint the given modules one by one (non-reentrant).

    Args:
        modules (Iterable[nn.Module]): E.g. a generator's residual blocks.

    Returns:
        int: Number of modules now checkpointed.
    """
    count = 0
    for module in modules:
        if not isinstance(module.__dict__.get('forward'),
                          _CheckpointedForward):
            module.forward = _CheckpointedForward(module)
        count += 1
    return count


def disable_activation_checkpointing(model: nn.Module) -> None:
    """Undo :func:`enable_activation_checkpointing`.

    Args:
        model (nn.Module): The perceptual segmentor.
    """
    for module in model.modules():
        if isinstance(module.__dict__.get('forward'), _CheckpointedForward):
            del module.forward
