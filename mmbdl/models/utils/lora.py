"""Low-rank adapters (LoRA, Hu et al., 2022) on linear projections.

``LoRALinear`` is an ``nn.Linear`` (same ``weight``/``bias`` keys, so
pretrained weights load unchanged) plus ``lora_A`` (r x in) and ``lora_B``
(out x r): ``y = x W^T + b + (alpha / r) * x A^T B^T``. ``B`` starts at
zero, so a fresh adapter leaves the model's output unchanged.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmbdl.utils.errors import ConfigCheckError


class LoRALinear(nn.Linear):
    """A linear layer with a trainable low-rank update.

    Args:
        in_features (int): Input width.
        out_features (int): Output width.
        bias (bool): Defaults to True.
        rank (int): Rank r of the update. Defaults to 8.
        alpha (float, optional): Scale numerator; the update is multiplied
            by ``alpha / rank``. Defaults to None (= rank, scale 1).
        dropout (float): Dropout on the adapter's input. Defaults to 0.
    """

    def __init__(self,
                 in_features: int,
                 out_features: int,
                 bias: bool = True,
                 rank: int = 8,
                 alpha: float = None,
                 dropout: float = 0.,
                 **kwargs) -> None:
        super().__init__(in_features, out_features, bias=bias, **kwargs)
        if rank < 1:
            raise ConfigCheckError(f'LoRA rank must be >= 1, got {rank}')
        self.rank = rank
        self.scaling = (rank if alpha is None else alpha) / rank
        factory = dict(device=self.weight.device, dtype=self.weight.dtype)
        self.lora_A = nn.Parameter(torch.empty(rank, in_features, **factory))
        self.lora_B = nn.Parameter(
            torch.empty(out_features, rank, **factory))
        self.lora_dropout = nn.Dropout(dropout)
        self.reset_lora()

    def reset_lora(self) -> None:
        """``A`` as an ``nn.Linear`` weight, ``B`` zero (no update)."""
        if self.lora_A.is_meta:
            return
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B)

    def forward(self, x: Tensor) -> Tensor:
        out = F.linear(x, self.weight, self.bias)
        update = F.linear(F.linear(self.lora_dropout(x), self.lora_A),
                          self.lora_B)
        return out + self.scaling * update

    def extra_repr(self) -> str:
        return f'{super().extra_repr()}, rank={self.rank}, ' \
            f'scaling={self.scaling}'


def add_lora(module: nn.Module, name: str, **lora_kwargs) -> int:
    """Replace every ``nn.Linear`` child called ``name`` by a LoRALinear.

    The base weights are kept (copied); the adapter starts as no update.

    Args:
        module (nn.Module): Searched recursively.
        name (str): Attribute name of the projections, e.g. 'qkv'.
        **lora_kwargs: ``rank``, ``alpha``, ``dropout`` of LoRALinear.

    Returns:
        int: Number of projections replaced.

    Raises:
        ConfigCheckError: If none is found.
    """
    count = 0
    for parent in list(module.modules()):
        child = getattr(parent, name, None)
        if type(child) is not nn.Linear:
            continue
        lora = LoRALinear(child.in_features, child.out_features,
                          bias=child.bias is not None,
                          device=child.weight.device,
                          dtype=child.weight.dtype, **lora_kwargs)
        with torch.no_grad():
            lora.weight.copy_(child.weight)
            if child.bias is not None:
                lora.bias.copy_(child.bias)
        setattr(parent, name, lora)
        count += 1
    if not count:
        raise ConfigCheckError(
            f'lora_cfg: no nn.Linear called {name!r} in '
            f'{type(module).__name__}')
    return count


def freeze_all_but_lora(module: nn.Module) -> None:
    """``requires_grad=False`` for every parameter except the adapters."""
    for pname, param in module.named_parameters():
        param.requires_grad = pname.rsplit('.', 1)[-1] in ('lora_A',
                                                           'lora_B')


def reset_lora(module: nn.Module) -> None:
    """Restart every adapter of ``module`` (after a module-wide init)."""
    for m in module.modules():
        if isinstance(m, LoRALinear):
            m.reset_lora()
