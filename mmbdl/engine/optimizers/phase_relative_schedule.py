"""Scheduler configs whose iteration counts are fractions of a phase."""
import copy
from typing import Union

from mmbdl.utils.errors import ConfigCheckError

RELATIVE = 'relative_'


def resolve_phase_relative(cfg: Union[dict, list, None],
                           phase_iters: int) -> Union[dict, list, None]:
    """Turn ``relative_<arg>`` entries into iteration counts of a phase.

    A scheduler config of the BDL loop may give any iteration argument as
    a fraction of its phase's length: ``relative_begin``, ``relative_end``,
    ``relative_step_size``, ``relative_iters_per_epoch``... become
    ``round(fraction * phase_iters)`` (at least 1, except ``begin``), so a
    shortened phase keeps the schedule's shape. ``end`` defaults to the
    phase's end, and an ``end`` that rounding brought down to ``begin`` is
    moved one iteration past it, so every budget >= 1 gives a valid
    schedule; absolute values that do not fit the phase are refused.
    Examples at the release's budgets: the poly horizon of 250k
    for an 80k phase is ``relative_end=3.125``; CycleGAN's linear decay over
    its last 10 of 20 epochs is ``relative_begin=0.5``.

    Args:
        cfg (dict | list | None): One scheduler config, a list of them, or
            a dict of them keyed by optimizer name.
        phase_iters (int): The phase's iterations.

    Returns:
        dict | list | None: A resolved copy.

    Raises:
        ConfigCheckError: For a negative fraction, an absolute and a
            relative value of the same argument, or absolute values that
            do not fit the phase.
    """
    if cfg is None:
        return None
    if isinstance(cfg, (list, tuple)):
        return [resolve_phase_relative(c, phase_iters) for c in cfg]
    if 'type' not in cfg:  # keyed by optimizer name
        return {k: resolve_phase_relative(v, phase_iters)
                for k, v in cfg.items()}
    out = copy.deepcopy(dict(cfg))
    for key in [k for k in out if k.startswith(RELATIVE)]:
        name = key[len(RELATIVE):]
        fraction = out.pop(key)
        if name in out:
            raise ConfigCheckError(
                f'scheduler {out["type"]} sets both {name} and {key}; keep '
                'one (relative values are fractions of the phase length)')
        if not isinstance(fraction, (int, float)) or fraction < 0:
            raise ConfigCheckError(
                f'scheduler {out["type"]}: {key} must be a '
                f'fraction >= 0, got {fraction!r}')
        value = int(round(fraction * phase_iters))
        out[name] = value if name == 'begin' else max(1, value)
    relative = any(k.startswith(RELATIVE) for k in cfg)
    out.setdefault('end', phase_iters)
    begin = out.get('begin', 0)
    if relative and out['end'] <= begin:
        out['end'] = begin + 1
    elif begin >= phase_iters or out['end'] <= begin:
        raise ConfigCheckError(
            f'scheduler {out["type"]} runs from iteration {begin} to '
            f'{out["end"]} but its phase has {phase_iters} iterations; give '
            'phase-relative values (relative_begin=0.5, relative_end=...) '
            'so that any phase_iters works')
    return out
