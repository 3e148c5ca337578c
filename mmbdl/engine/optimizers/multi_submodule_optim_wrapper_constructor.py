"""One optimizer wrapper per named sub-module, each with its paramwise_cfg."""
import copy
from typing import Dict, Optional

import torch.nn as nn
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapperDict

from mmbdl.registry import OPTIM_WRAPPER_CONSTRUCTORS
from mmbdl.utils.errors import ConfigCheckError
from mmbdl.utils.model_utils import unwrap_model


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class MultiSubmoduleOptimWrapperConstructor:
    """Build an ``OptimWrapperDict`` with one wrapper per sub-module.

    The ``optim_wrapper`` config maps sub-module attribute paths (dotted
    paths allowed, e.g. ``'segmentor'``, ``'discriminator'``,
    ``'translator.generators.source'``) to ordinary optim wrapper configs.
    Each may carry its own ``paramwise_cfg`` (``custom_keys`` names are
    relative to that sub-module, e.g. ``'decode_head'`` for the segmentor's
    classifier) and ``constructor`` (default
    ``DefaultOptimWrapperConstructor``). Model wrappers (DDP) are looked
    through at every level. The result is keyed by the config keys::

        optim_wrapper = dict(
            constructor='MultiSubmoduleOptimWrapperConstructor',
            segmentor=dict(
                type='OptimWrapper',
                optimizer=dict(type='SGD', lr=2.5e-4, momentum=0.9,
                               weight_decay=5e-4),
                paramwise_cfg=dict(
                    custom_keys={'decode_head': dict(lr_mult=10.0)})),
            discriminator=dict(
                type='OptimWrapper',
                optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.99))))

    A parameter may belong to one wrapper only.

    Args:
        optim_wrapper_cfg (dict): Sub-module path -> optim wrapper config.
        paramwise_cfg (dict, optional): Must be None (give one per key).
    """

    def __init__(self,
                 optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None) -> None:
        if not isinstance(optim_wrapper_cfg, dict) or not optim_wrapper_cfg:
            raise TypeError('MultiSubmoduleOptimWrapperConstructor needs a '
                            'dict of sub-module path -> optim wrapper config,'
                            f' got {optim_wrapper_cfg!r}')
        if paramwise_cfg is not None:
            raise ConfigCheckError(
                'give paramwise_cfg inside each sub-module entry of '
                'optim_wrapper (e.g. optim_wrapper.segmentor.paramwise_cfg), '
                'not at the top level')
        for key, cfg in optim_wrapper_cfg.items():
            if not isinstance(cfg, dict) or 'optimizer' not in cfg:
                raise ConfigCheckError(
                    f'optim_wrapper.{key} must be an optim wrapper config '
                    f'with an `optimizer`, got {cfg!r}')
        self.optim_wrapper_cfg = copy.deepcopy(optim_wrapper_cfg)

    @staticmethod
    def resolve(model: nn.Module, path: str) -> nn.Module:
        """Find the sub-module at a dotted attribute path.

        Args:
            model (nn.Module): The (possibly wrapped) model.
            path (str): e.g. 'segmentor' or 'translator.generators.source'.

        Returns:
            nn.Module: The sub-module (unwrapped).

        Raises:
            KeyError: If a part of the path does not exist.
        """
        module = unwrap_model(model)
        done = []
        for part in path.split('.'):
            child = None
            if isinstance(module, (nn.ModuleDict, nn.ModuleList,
                                   nn.Sequential)):
                child = module._modules.get(part)
            if child is None:
                child = getattr(module, part, None)
            if not isinstance(child, nn.Module):
                where = '.'.join(done) or type(module).__name__
                raise KeyError(
                    f'optim_wrapper key {path!r}: {where} has no sub-module '
                    f'{part!r}; children are '
                    f'{sorted(n for n, _ in module.named_children())}')
            module = unwrap_model(child)
            done.append(part)
        return module

    def __call__(self, model: nn.Module) -> OptimWrapperDict:
        """Build the wrappers.

        Args:
            model (nn.Module): The model.

        Returns:
            OptimWrapperDict: Keyed by the config keys.
        """
        wrappers: Dict[str, object] = {}
        owner: Dict[int, str] = {}
        for key, cfg in self.optim_wrapper_cfg.items():
            cfg = copy.deepcopy(cfg)
            module = self.resolve(model, key)
            constructor = cfg.pop('constructor',
                                  'DefaultOptimWrapperConstructor')
            paramwise = cfg.pop('paramwise_cfg', None)
            for param in module.parameters():
                if id(param) in owner:
                    raise ConfigCheckError(
                        f'optim_wrapper keys {owner[id(param)]!r} and '
                        f'{key!r} share parameters; give every parameter '
                        'to one optimizer only')
                owner[id(param)] = key
            if constructor == 'DefaultOptimWrapperConstructor':
                builder = DefaultOptimWrapperConstructor(cfg, paramwise)
            else:
                builder = OPTIM_WRAPPER_CONSTRUCTORS.build(
                    dict(type=constructor, optim_wrapper_cfg=cfg,
                         paramwise_cfg=paramwise))
            wrappers[key] = builder(module)
        return OptimWrapperDict(**wrappers)
