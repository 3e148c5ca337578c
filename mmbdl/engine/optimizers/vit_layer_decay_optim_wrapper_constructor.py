"""Layer-wise learning rates for a ViT backbone (VFM-UDA's recipe)."""
import re
from typing import List, Optional

import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.optim import DefaultOptimWrapperConstructor

from mmbdl.registry import OPTIM_WRAPPER_CONSTRUCTORS
from mmbdl.utils.errors import ConfigCheckError

_BLOCK = re.compile(r'(?:^|\.)backbone\.layers\.(\d+)\.')
_BACKBONE = re.compile(r'(?:^|\.)backbone\.')


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class ViTLayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """One parameter group per ViT block, the learning rate decaying with
    depth.

    The optimizer's ``lr`` is the decode head's (every parameter outside
    ``backbone.``). The last block trains at ``lr * backbone_lr_mult``,
    each block below at ``decay_rate`` times the one above, and the stem
    (patch embedding, class / register tokens, positional embedding, the
    final norm: every backbone parameter outside ``backbone.layers.N``) at
    the rate of block 0 times ``decay_rate``; as VFM-UDA's optimizer
    (``lr_multiplier``, ``layerwise_lr_decay``). Weight decay is the
    optimizer's for every group (VFM-UDA's AdamW has no exclusions).
    Frozen parameters (a LoRA run's backbone) are left out.

    ``paramwise_cfg``:

    - ``num_layers`` (int): blocks of the ViT;
    - ``decay_rate`` (float): per-block factor (1.0: no decay);
    - ``backbone_lr_mult`` (float): last block's rate / the head's.
      Defaults to 1.0.

    Names are matched at any depth (``segmentor.backbone.layers.3.*`` in a
    BDL model), so the constructor works on the segmentation sub-module
    that :class:`MultiSubmoduleOptimWrapperConstructor` hands it.
    """

    def __init__(self, optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None) -> None:
        paramwise_cfg = dict(paramwise_cfg or {})
        missing = {'num_layers', 'decay_rate'} - set(paramwise_cfg)
        unknown = set(paramwise_cfg) - {'num_layers', 'decay_rate',
                                        'backbone_lr_mult'}
        if missing or unknown:
            raise ConfigCheckError(
                'ViTLayerDecayOptimWrapperConstructor: paramwise_cfg needs '
                f'num_layers and decay_rate (and optionally '
                f'backbone_lr_mult); missing {sorted(missing)}, unknown '
                f'{sorted(unknown)}')
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
        self.num_layers = int(paramwise_cfg['num_layers'])
        self.decay_rate = float(paramwise_cfg['decay_rate'])
        self.backbone_lr_mult = float(
            paramwise_cfg.get('backbone_lr_mult', 1.0))

    def lr_scale(self, name: str) -> float:
        """The learning-rate factor of a parameter name."""
        block = _BLOCK.search(name)
        if block is not None:
            index = int(block.group(1))
            if index >= self.num_layers:
                raise ConfigCheckError(
                    f'{name}: block {index} but paramwise_cfg.num_layers is '
                    f'{self.num_layers}')
            return self.backbone_lr_mult * self.decay_rate**(
                self.num_layers - 1 - index)
        if _BACKBONE.search(name) is not None:
            return self.backbone_lr_mult * self.decay_rate**self.num_layers
        return 1.0

    def add_params(self, params: List[dict], module: nn.Module,
                   **kwargs) -> None:
        groups = {}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            scale = self.lr_scale(name)
            group = groups.setdefault(scale, dict(
                params=[], lr=self.base_lr * scale, lr_scale=scale))
            if self.base_wd is not None:
                group['weight_decay'] = self.base_wd
            group['params'].append(param)
        if not any(_BLOCK.search(n) for n, p in module.named_parameters()):
            raise ConfigCheckError(
                'ViTLayerDecayOptimWrapperConstructor: no parameter under '
                "'backbone.layers.N.' in the module; use it for a ViT "
                'segmentor only')
        params.extend(sorted(groups.values(), key=lambda g: g['lr_scale']))
        MMLogger.get_current_instance().info(
            f'layer-wise lr: {len(groups)} groups, lr '
            f'{min(groups):.3g} to {max(groups):.3g} x {self.base_lr}')
