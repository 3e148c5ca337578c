"""A distributed wrapper that averages the gradients of every optimizer."""
from typing import Dict, Iterable, List, Optional, Union

import torch
import torch.distributed as dist
import torch.nn as nn
from mmengine.dist import get_world_size
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.registry import MODEL_WRAPPERS as ROOT_MODEL_WRAPPERS
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

from mmbdl.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class BDLDistributedDataParallel(nn.Module):
    """Data parallelism for models with several nested optimizers.

    BDL trains four groups of parameters with their own optimizers (the
    segmentor, its output-space discriminator, the two CycleGAN generators,
    the two CycleGAN discriminators), nested two levels deep and stepped
    several times per iteration. ``torch.nn.parallel.DistributedDataParallel``
    only synchronises gradients of parameters reached through its own
    ``forward``; MMEngine's ``MMSeparateDistributedDataParallel`` wraps each
    *direct* child, but BDL's children call into their sub-modules directly
    (``get_module(...)``, ``segmentor.loss``), which bypasses a DDP forward
    and silently skips the all-reduce.

    This wrapper does not depend on how the model calls its modules: every
    ``OptimWrapper`` that ``train_step`` receives is hooked so that, right
    before it steps (and before gradient clipping), the gradients of exactly
    its parameters are averaged over all ranks (bucketed all-reduce of
    flattened tensors). A parameter with a gradient on some ranks only gets
    zeros on the others, as DDP does; one without a gradient anywhere is left
    alone. Parameters and buffers are broadcast from rank 0 when the wrapper
    is built and whenever :meth:`broadcast_parameters` is called (the BDL loop
    calls it before the first iteration, after weights are initialised and
    loaded). Communication is not overlapped with the backward pass; that is
    the price of correctness for arbitrary optimizer layouts.

    With one process every method passes through unchanged.

    Args:
        module (nn.Module): The model (a ``BDL`` or any MMEngine model).
        broadcast_buffers (bool): Broadcast buffers (e.g. BN running stats)
            from rank 0 before every train step. Defaults to False.
        bucket_size_mb (float): All-reduce bucket size. Defaults to 25.
        **kwargs: Accepted and ignored for compatibility with DDP configs
            (``device_ids``, ``find_unused_parameters``, ...).
    """

    def __init__(self,
                 module: nn.Module,
                 broadcast_buffers: bool = False,
                 bucket_size_mb: float = 25,
                 **kwargs) -> None:
        super().__init__()
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.bucket_bytes = int(bucket_size_mb * 1024 * 1024)
        self.broadcast_parameters()

    # ------------------------------------------------------------------
    @property
    def world_size(self) -> int:
        """int: Number of processes (1 when not distributed)."""
        return get_world_size()

    def _buckets(self, tensors: List[torch.Tensor]) -> Iterable[List]:
        groups: Dict[tuple, List[torch.Tensor]] = {}
        for t in tensors:
            groups.setdefault((t.dtype, t.device), []).append(t)
        for group in groups.values():
            bucket, size = [], 0
            for t in group:
                bucket.append(t)
                size += t.numel() * t.element_size()
                if size >= self.bucket_bytes:
                    yield bucket
                    bucket, size = [], 0
            if bucket:
                yield bucket

    @torch.no_grad()
    def _broadcast(self, tensors: List[torch.Tensor]) -> None:
        for bucket in self._buckets(tensors):
            flat = _flatten_dense_tensors(bucket)
            dist.broadcast(flat, 0)
            for t, synced in zip(bucket,
                                 _unflatten_dense_tensors(flat, bucket)):
                t.copy_(synced)

    def broadcast_parameters(self) -> None:
        """Copy rank 0's parameters and buffers to every rank."""
        if self.world_size == 1:
            return
        tensors = [p.data for p in self.module.parameters()]
        tensors += [b for b in self.module.buffers()]
        self._broadcast(tensors)

    @torch.no_grad()
    def all_reduce_grads(self, params: List[nn.Parameter]) -> None:
        """Average the gradients of ``params`` over all ranks.

        Args:
            params (list[Parameter]): The same list, in the same order, on
                every rank.
        """
        world_size = self.world_size
        if world_size == 1 or not params:
            return
        device = params[0].device
        has_grad = torch.tensor([p.grad is not None for p in params],
                                dtype=torch.int32, device=device)
        dist.all_reduce(has_grad)
        grads = []
        for p, used in zip(params, has_grad.tolist()):
            if not used:
                continue
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            grads.append(p.grad)
        for bucket in self._buckets(grads):
            flat = _flatten_dense_tensors(bucket)
            dist.all_reduce(flat)
            flat.div_(world_size)
            for g, synced in zip(bucket,
                                 _unflatten_dense_tensors(flat, bucket)):
                g.copy_(synced)

    def _hook_wrapper(self, wrapper: OptimWrapper) -> None:
        if getattr(wrapper, '_bdl_grad_sync', False):
            return
        original_step = wrapper.step
        sync = self.all_reduce_grads

        def step(**kwargs):
            params = [p for group in wrapper.optimizer.param_groups
                      for p in group['params']]
            sync(params)
            return original_step(**kwargs)

        wrapper.step = step
        wrapper._bdl_grad_sync = True

    def install(self, optim_wrapper: Union[OptimWrapper,
                                           OptimWrapperDict]) -> None:
        """Hook gradient averaging into every wrapper of ``optim_wrapper``.

        Args:
            optim_wrapper (OptimWrapper | OptimWrapperDict): Wrappers.
        """
        if self.world_size == 1:
            return
        if isinstance(optim_wrapper, OptimWrapperDict):
            for wrapper in optim_wrapper.values():
                self._hook_wrapper(wrapper)
        else:
            self._hook_wrapper(optim_wrapper)

    # ------------------------------------------------------------------
    def train_step(self, data, optim_wrapper: OptimWrapper
                   ) -> Dict[str, torch.Tensor]:
        """The model's ``train_step`` with gradients averaged over ranks.

        Args:
            data: A batch.
            optim_wrapper (OptimWrapper | OptimWrapperDict): Wrappers.

        Returns:
            dict[str, Tensor]: The model's log variables.
        """
        self.install(optim_wrapper)
        if self.broadcast_buffers and self.world_size > 1:
            self._broadcast([b for b in self.module.buffers()])
        return self.module.train_step(data, optim_wrapper)

    def val_step(self, data) -> list:
        """The model's ``val_step``."""
        return self.module.val_step(data)

    def test_step(self, data) -> list:
        """The model's ``test_step``."""
        return self.module.test_step(data)

    def forward(self, *args, **kwargs):
        """The model's ``forward``."""
        return self.module(*args, **kwargs)


# MMEngine's Runner looks wrappers up with ``MODEL_WRAPPERS.get(type)`` on
# its root registry, which searches parents but not grandchildren such as
# mmbdl's registry: register the class there too (same class, same name).
if ROOT_MODEL_WRAPPERS.get('BDLDistributedDataParallel') is None:
    ROOT_MODEL_WRAPPERS.register_module(module=BDLDistributedDataParallel)
