"""Gradients averaged over the ranks right before an optimizer wrapper steps.

The one mechanism mmbdl uses to synchronise gradients that DDP's own
reduction misses. Two callers need it:

- :class:`~mmbdl.models.wrappers.BDLDistributedDataParallel`: BDL's
  children call their sub-modules directly, so no DDP forward sees them; it
  reduces every wrapper its ``train_step`` receives, with DDP's
  unused-parameter rules (:meth:`all_reduce_grads`).
- :class:`~mmbdl.models.translators.PerceptualCycleGAN`: MMagic's CycleGAN
  calls its networks through ``.module``, bypassing DDP's reduction under
  MMEngine's or MMagic's DDP wrappers; it reduces its generators' and
  discriminators' wrappers with :func:`mean_all_reduce_grads`.

Why an instance-level ``step`` for the duration of one train step, rather
than a hook: MMEngine's ``OptimWrapper`` offers none before its ``step``.
``update_params`` calls ``self.step``; ``step`` clips (``_clip_grad``, only
when ``clip_grad`` is set) and then steps, and ``AmpOptimWrapper.step``
unscales first and lets the ``GradScaler`` skip the optimizer's step on
non-finite gradients. torch's ``Optimizer.register_step_pre_hook`` would
therefore run after clipping and after unscaling, and not at all on a
skipped step (the ranks would then disagree about the next scale); a
subclass of ``OptimWrapper`` would have to be named in every config, for
MMagic's and MMEngine's wrappers alike. Reducing first thing in ``step``
puts the average before clipping and before the scaler in every wrapper
class, and on every rank alike (a non-finite gradient on one rank becomes
non-finite on all of them, so every scaler skips together).
"""
from contextlib import contextmanager
from typing import Callable, Dict, Iterable, Iterator, List, Union

import torch
from mmengine.dist import all_reduce_params, get_world_size
from mmengine.optim import OptimWrapper, OptimWrapperDict

ReduceFn = Callable[[List[torch.nn.Parameter]], None]
Wrappers = Union[OptimWrapper, OptimWrapperDict, Iterable[OptimWrapper]]

# The wrappers an active `synchronised_steps` reduces, by id. A nested
# context leaves these to the outer one, so each gradient is reduced once.
_SYNCHRONISED: Dict[int, OptimWrapper] = {}


def optimizer_params(wrapper: OptimWrapper) -> List[torch.nn.Parameter]:
    """Every parameter of a wrapper's optimizer, in param-group order.

    Args:
        wrapper (OptimWrapper): The wrapper.

    Returns:
        list[Parameter]: The same list, in the same order, on every rank
        that built the optimizer alike.
    """
    return [p for group in wrapper.optimizer.param_groups
            for p in group['params']]


@torch.no_grad()
def mean_all_reduce_grads(params: List[torch.nn.Parameter]) -> None:
    """Average the existing gradients of ``params`` over all ranks.

    A coalesced mean all-reduce of the parameters that have a gradient
    (the same ones on every rank: no unused-parameter handling).

    Args:
        params (list[Parameter]): The parameters.
    """
    grads = [p.grad for p in params if p.grad is not None]
    if grads:
        all_reduce_params(grads, coalesce=True, op='mean')


def _each_wrapper(wrappers: Wrappers) -> Iterator[OptimWrapper]:
    """The single wrappers of ``wrappers`` (dicts and lists opened)."""
    if isinstance(wrappers, OptimWrapperDict):
        wrappers = wrappers.values()
    elif isinstance(wrappers, OptimWrapper):
        yield wrappers
        return
    for wrapper in wrappers:
        yield from _each_wrapper(wrapper)


def _reducing_step(wrapper: OptimWrapper, reduce_fn: ReduceFn) -> Callable:
    """The wrapper's current ``step``, preceded by ``reduce_fn``."""
    step = wrapper.step  # the class's, or an instance-level one if set

    def synchronised_step(*args, **kwargs):
        reduce_fn(optimizer_params(wrapper))
        return step(*args, **kwargs)

    return synchronised_step


@contextmanager
def synchronised_steps(wrappers: Wrappers,
                       reduce_fn: ReduceFn = mean_all_reduce_grads):
    """Within the block, every step of ``wrappers`` reduces gradients first.

    Each wrapper's ``step`` calls ``reduce_fn`` on its optimizer's
    parameters (:func:`optimizer_params`), then the ``step`` it had when the
    block was entered (the class's, or an instance-level one someone else
    set): before gradient clipping and before an ``AmpOptimWrapper``'s
    unscale and scaler step. On exit, normal or not, every wrapper is put
    back exactly as it was: no instance attribute is left behind, or the
    previous one is restored.

    Nesting reduces once: a wrapper that an enclosing block already
    synchronises is left to it (``BDLDistributedDataParallel`` around BDL
    around the translator: the outer ``reduce_fn`` runs, once per step).
    With one process (or no process group) nothing is patched and nothing
    costs anything.

    Args:
        wrappers (OptimWrapper | OptimWrapperDict | Iterable): The wrappers
            (a dict's values; duplicates count once).
        reduce_fn (Callable): Called with the list of a wrapper's parameters
            right before the wrapper steps; must run the same collectives on
            every rank. Defaults to :func:`mean_all_reduce_grads`.

    Yields:
        None
    """
    if get_world_size() == 1:
        yield
        return
    patched = []  # (wrapper, its instance-level `step` or None)
    try:
        for wrapper in _each_wrapper(wrappers):
            if id(wrapper) in _SYNCHRONISED:
                continue  # an outer block (or a duplicate) reduces it
            patched.append((wrapper, wrapper.__dict__.get('step')))
            _SYNCHRONISED[id(wrapper)] = wrapper
            wrapper.step = _reducing_step(wrapper, reduce_fn)
        yield
    finally:
        for wrapper, saved in reversed(patched):
            del _SYNCHRONISED[id(wrapper)]
            if saved is None:
                del wrapper.step  # back to the class's method
            else:
                wrapper.step = saved
