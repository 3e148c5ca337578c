"""A phase's optimizer wrappers and lr schedules, from the runner's
``optim_wrapper`` / ``param_scheduler`` configs keyed by phase kind."""
import copy
from typing import Optional, Sequence

import torch.nn as nn
from mmengine.optim import OptimWrapper, build_optim_wrapper

from mmbdl.engine.optimizers.phase_relative_schedule import \
    resolve_phase_relative
from mmbdl.registry import PARAM_SCHEDULERS
from mmbdl.utils.errors import ConfigCheckError, ConfigTypeError
from .phase_kinds import phase_kind
from .phase_plan import Phase, lookup


class PhaseOptimizers:
    """Builds each phase's optimizers and schedules afresh.

    The built objects become ``runner.optim_wrapper`` /
    ``runner.param_schedulers``, so MMEngine's checkpoints hold the current
    phase's optimizer and scheduler states. Schedules count the phase's
    local iterations from 0; a scheduler config without ``end`` ends with
    the phase, and ``relative_<arg>`` values are fractions of the phase
    (``resolve_phase_relative``), so any ``phase_iters`` keeps the shape.

    Args:
        optim_cfgs (dict): The runner's ``optim_wrapper`` config, keyed by
            phase kind (a kind's fallback key, e.g. segmentation, serves
            the kinds that declare it).
        sched_cfgs (dict, optional): The runner's ``param_scheduler``
            config, keyed the same way.
        kinds (Sequence[str]): The phase kinds of the plan.
    """

    def __init__(self, optim_cfgs, sched_cfgs, kinds: Sequence[str]) -> None:
        self.optim_cfgs = copy.deepcopy(optim_cfgs)
        self.sched_cfgs = copy.deepcopy(sched_cfgs)
        if not isinstance(self.optim_cfgs, dict):
            raise ConfigTypeError(
                'with BidirectionalTrainLoop, optim_wrapper must be a config '
                'dict keyed by phase kind (translation, segmentation, ...), '
                f'got {type(self.optim_cfgs).__name__}')
        for kind in kinds:
            if lookup(self.optim_cfgs, kind) is None:
                keys = phase_kind(kind).keys
                raise ConfigCheckError(
                    f"optim_wrapper has no entry for the '{kind}' phases; "
                    "add optim_wrapper['" + keys[-1] + "'] = "
                    'dict(...) (keys: ' + ', '.join(keys) + ')')
        if self.sched_cfgs is not None and not isinstance(
                self.sched_cfgs, dict):
            raise ConfigTypeError(
                'with BidirectionalTrainLoop, param_scheduler must be a dict '
                'keyed by phase kind, e.g. dict(translation=[...], '
                'segmentation=[...])')

    def build(self, runner, module: nn.Module, phase: Phase,
              epoch_length: Optional[int], scale: bool = True) -> None:
        """Build the phase's optimizer wrappers and lr schedulers.

        They become ``runner.optim_wrapper`` / ``runner.param_schedulers``.

        Args:
            runner (Runner): The runner.
            module (nn.Module): What the phase trains (translator or
                segmentor).
            phase (Phase): The phase.
            epoch_length (int, optional): Length of the phase's dataloader
                (for ``convert_to_iter_based`` schedulers).
            scale (bool): Apply the runner's ``auto_scale_lr``. Defaults to
                True.
        """
        cfg = copy.deepcopy(lookup(self.optim_cfgs, phase.kind))
        optim_wrapper = build_optim_wrapper(module, cfg)
        if scale and runner.auto_scale_lr is not None:
            runner.scale_lr(optim_wrapper, runner.auto_scale_lr)
        optim_wrapper.initialize_count_status(module, 0, phase.iters)
        runner.optim_wrapper = optim_wrapper
        sched_cfg = lookup(self.sched_cfgs, phase.kind)
        runner.param_schedulers = self.build_schedulers(
            sched_cfg, optim_wrapper, phase, epoch_length)

    @staticmethod
    def build_schedulers(cfg, optim_wrapper: OptimWrapper, phase: Phase,
                         epoch_length: Optional[int]):
        """Schedulers counting the phase's local iterations from 0.

        Returns:
            list | dict: A list, or a dict of lists per optimizer name for
            an ``OptimWrapperDict``.
        """
        if cfg is None:
            return [] if not hasattr(optim_wrapper, 'optim_wrappers') \
                else {name: [] for name in optim_wrapper.keys()}

        def build(cfgs, wrapper):
            if isinstance(cfgs, dict):
                cfgs = [cfgs]
            out = []
            for one in cfgs:
                # relative_* values are fractions of the phase; end
                # defaults to the phase's end
                one = resolve_phase_relative(one, phase.iters)
                args = dict(optimizer=wrapper)
                if one.get('convert_to_iter_based', False):
                    args['epoch_length'] = epoch_length
                out.append(PARAM_SCHEDULERS.build(one, default_args=args))
            return out

        if hasattr(optim_wrapper, 'optim_wrappers'):
            result = {}
            per_name = isinstance(cfg, dict) and 'type' not in cfg
            for name, wrapper in optim_wrapper.items():
                if per_name:
                    if name not in cfg:
                        raise ConfigCheckError(
                            f"param_scheduler for '{phase.kind}' phases is "
                            f'keyed by optimizer but has no {name!r}; keys: '
                            f'{sorted(cfg)}')
                    result[name] = build(cfg[name], wrapper)
                else:
                    result[name] = build(cfg, wrapper)
            return result
        return build(cfg, optim_wrapper)
