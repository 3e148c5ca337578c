"""Param groups that repeat parameters as the BDL release's DeepLab did."""
from collections import Counter
from typing import Dict, List, Optional, Sequence

import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper

from mmbdl.registry import OPTIM_WRAPPER_CONSTRUCTORS
from mmbdl.utils.model_utils import unwrap_model


def release_multiplicity(root: nn.Module) -> Dict[int, int]:
    """How often the release's parameter generator yields each parameter.

    The release's ``get_1x_lr_params_NOscale`` takes the top-level children
    of the network (``conv1``, ``bn1``, ``layer1..4``), and for each child
    walks ``child.modules()`` (the child and every module under it) and
    yields every trainable parameter of ``module.parameters()``, which is
    recursive. A parameter therefore appears once per module on its path
    from the top-level child down to the module that owns it.

    Args:
        root (nn.Module): The module whose children are the list's entries
            (mmbdl's ``backbone``).

    Returns:
        dict[int, int]: ``id(parameter)`` -> multiplicity, trainable
        parameters only.
    """
    counts: Counter = Counter()
    for child in root.children():
        for module in child.modules():
            for param in module.parameters():
                if param.requires_grad:
                    counts[id(param)] += 1
    return dict(counts)


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class ReleaseParamListOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """``DefaultOptimWrapperConstructor`` plus the release's repetitions.

    Every parameter gets its own param group (as with any ``paramwise_cfg``)
    and a ``repeat`` entry: its multiplicity in the release's duplicated
    list (:func:`release_multiplicity`) for parameters under one of
    ``paramwise_cfg.repeat_modules``, 1 elsewhere (the release lists its
    classifier once). Use it with :class:`RepeatedSGD`, which applies a
    parameter's update ``repeat`` times per step as PyTorch 0.4.0 did::

        segmentor=dict(
            type='OptimWrapper',
            constructor='ReleaseParamListOptimWrapperConstructor',
            optimizer=dict(type='RepeatedSGD', lr=2.5e-4, momentum=0.9,
                           weight_decay=5e-4),
            paramwise_cfg=dict(
                custom_keys=dict(decode_head=dict(lr_mult=10.0)),
                repeat_modules=['backbone']))

    Args:
        optim_wrapper_cfg (dict): The optim wrapper config.
        paramwise_cfg (dict, optional): MMEngine's paramwise options plus
            ``repeat_modules`` (list of dotted sub-module names, default
            ``['backbone']``).
    """

    def __init__(self,
                 optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None) -> None:
        paramwise_cfg = dict(paramwise_cfg or {})
        modules = paramwise_cfg.pop('repeat_modules', ['backbone'])
        if isinstance(modules, str) or not isinstance(modules, Sequence):
            raise TypeError('paramwise_cfg.repeat_modules must be a list of '
                            f'sub-module names, got {modules!r}')
        self.repeat_modules: List[str] = list(modules)
        # a non-empty paramwise_cfg makes the parent build one group per
        # parameter, which is where `repeat` goes
        paramwise_cfg.setdefault('custom_keys', {})
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
        self._repeat: Dict[int, int] = {}

    def add_params(self, params: List[dict], module: nn.Module,
                   prefix: str = '', is_dcn_module=None) -> None:
        """Add the parent's param groups, each with its ``repeat``."""
        start = len(params)
        super().add_params(params, module, prefix, is_dcn_module)
        for group in params[start:]:
            group.setdefault('repeat',
                             self._repeat.get(id(group['params'][0]), 1))

    def __call__(self, model: nn.Module) -> OptimWrapper:
        """Build the wrapper.

        Args:
            model (nn.Module): The module to optimise.

        Returns:
            OptimWrapper: With ``repeat`` in every param group.

        Raises:
            KeyError: If a ``repeat_modules`` entry names no sub-module.
        """
        model = unwrap_model(model)
        self._repeat = {}
        for name in self.repeat_modules:
            try:
                root = model.get_submodule(name)
            except AttributeError:
                raise KeyError(
                    f'paramwise_cfg.repeat_modules: {type(model).__name__} '
                    f'has no sub-module {name!r}; children are '
                    f'{sorted(n for n, _ in model.named_children())}'
                ) from None
            self._repeat.update(release_multiplicity(root))
        wrapper = super().__call__(model)
        histogram = Counter(
            g['repeat'] for g in wrapper.optimizer.param_groups
            if any(p.requires_grad for p in g['params']))
        MMLogger.get_current_instance().info(
            'release parameter list: parameters per repetition count '
            + ', '.join(f'x{k}: {n}' for k, n in sorted(histogram.items())))
        return wrapper
