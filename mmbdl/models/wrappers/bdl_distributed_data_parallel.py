"""A distributed wrapper that averages the gradients of every optimizer."""
from typing import Dict, Iterable, List, Optional, Sequence, Union

import torch
import torch.distributed as dist
import torch.nn as nn
from mmengine.dist import get_world_size
from mmengine.optim import OptimWrapper
from mmengine.registry import MODEL_WRAPPERS as ROOT_MODEL_WRAPPERS
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

from mmbdl.models.utils.grad_sync import synchronised_steps
from mmbdl.registry import MODEL_WRAPPERS
from mmbdl.utils.errors import ConfigCheckError, RunStateError


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

    This wrapper does not depend on how the model calls its modules: for the
    duration of ``train_step``, every ``OptimWrapper`` it receives averages
    the gradients of exactly its parameters over all ranks right before it
    steps, before gradient clipping and an ``AmpOptimWrapper``'s unscaling
    (:meth:`all_reduce_grads`, a bucketed all-reduce of flattened tensors,
    run through :func:`~mmbdl.models.utils.grad_sync.synchronised_steps`).
    Outside ``train_step`` the wrappers are untouched; a synchronisation
    nested inside it (the translator's own) leaves them to this one, so each
    gradient is reduced once. A parameter with a gradient on some ranks
    only gets zeros on the others, as DDP does; one without a gradient
    anywhere is left alone (with ``find_unused_parameters=True``; by
    default, as in DDP, a trainable parameter of a stepping optimizer
    without a gradient on some rank is an error that names it). Parameters
    and buffers are broadcast from rank 0 when the wrapper is built and
    whenever :meth:`broadcast_parameters` is called (the BDL loop calls it
    before the first iteration, after weights are initialised and loaded).
    Communication is not overlapped with the backward pass; that is the
    price of correctness for arbitrary optimizer layouts.

    With one process every method passes through unchanged.

    Args:
        module (nn.Module): The model (a ``BDL`` or any MMEngine model).
        broadcast_buffers (bool): Broadcast buffers (e.g. BN running stats)
            from rank 0 before every train step. Defaults to False.
        bucket_size_mb (float): All-reduce bucket size. Defaults to 25.
        device_ids (Sequence[int | torch.device], optional): As in DDP: None
            for CPU modules (``tools/train.py`` sets it on CPU-only
            machines), or the one CUDA device the module lives on, which is
            checked. Defaults to None.
        find_unused_parameters (bool): As in DDP: whether a trainable
            parameter of a stepping optimizer may lack a gradient on some or
            all ranks (it is then averaged with zeros, or left alone when no
            rank has one). Defaults to False: such a parameter stops the run
            with its name.
    """

    def __init__(self,
                 module: nn.Module,
                 broadcast_buffers: bool = False,
                 bucket_size_mb: float = 25,
                 device_ids: Optional[Sequence[Union[int,
                                                     torch.device]]] = None,
                 find_unused_parameters: bool = False) -> None:
        super().__init__()
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.bucket_bytes = int(bucket_size_mb * 1024 * 1024)
        self.device_ids = self._check_device_ids(module, device_ids)
        self.find_unused_parameters = bool(find_unused_parameters)
        self.broadcast_parameters()

    @staticmethod
    def _check_device_ids(module: nn.Module, device_ids) -> Optional[list]:
        """DDP's rule: None, or the single CUDA device of the module."""
        devices = {p.device for p in module.parameters()}
        if device_ids is None:
            return None
        device_ids = list(device_ids)
        if len(device_ids) != 1:
            raise ConfigCheckError(
                'model_wrapper_cfg.device_ids of BDLDistributedDataParallel '
                f'must name one device (the module\'s), got {device_ids}')
        wanted = torch.device('cuda', device_ids[0]) if isinstance(
            device_ids[0], int) else torch.device(device_ids[0])
        if wanted.type != 'cuda' or devices != {wanted}:
            raise ConfigCheckError(
                f'model_wrapper_cfg.device_ids={device_ids} but the model '
                f'lives on {sorted(str(d) for d in devices)}; use '
                'device_ids=None for CPU models, or the CUDA device the '
                'model was moved to')
        return device_ids

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
        counts = has_grad.tolist()
        if not self.find_unused_parameters:
            self._check_all_used(params, counts, world_size)
        grads = []
        for p, used in zip(params, counts):
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

    def _check_all_used(self, params: List[nn.Parameter], counts: List[int],
                        world_size: int) -> None:
        """Raise (on every rank alike) when a trainable parameter lacks a
        gradient on some rank."""
        unused = [p for p, n in zip(params, counts)
                  if p.requires_grad and n < world_size]
        if not unused:
            return
        names = {id(p): name for name, p in self.module.named_parameters()}
        listed = [names.get(id(p), '?') for p in unused[:5]]
        raise RunStateError(
            f'{len(unused)} trainable parameters of a stepping optimizer got '
            f'no gradient on some ranks (e.g. {listed}); if that is '
            'expected, set model_wrapper_cfg.find_unused_parameters=True '
            '(they are then averaged with zeros, as DDP does)')

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
        if self.broadcast_buffers and self.world_size > 1:
            self._broadcast([b for b in self.module.buffers()])
        with synchronised_steps(optim_wrapper, self.all_reduce_grads):
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
