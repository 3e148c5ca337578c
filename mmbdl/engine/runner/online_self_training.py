"""``train_cfg.self_training``: offline pseudo-label rounds or an EMA teacher.

``'offline'`` (the paper, default): before each phase that consumes
pseudo-labels (self-training) a ``PseudoLabelHook`` writes the target
pseudo-labels of the latest M to disk and the phase trains on them.
``'ema_teacher'``: the segmentor
(``EMATeacherSegmentor``) labels every target batch online with its EMA
teacher, which an ``EMATeacherHook`` keeps up to date; no pseudo-label
folder is written or read.

A dict gives the mode per phase kind, e.g. ``dict(uda='ema_teacher',
self_training='offline')`` (kinds it does not name are 'offline'): a plan
can start with VFM-UDA's online phase and continue with BDL's offline
rounds. The hooks then name the kinds they serve
(``EMATeacherHook(kinds=['uda'])``, ``PseudoLabelHook(kinds=[...])``).
"""
import logging
from typing import Dict, Iterable, Sequence, Union

from mmengine.logging import print_log

from mmbdl.utils.errors import ConfigCheckError, ConfigTypeError
from .phase_kinds import PSEUDO_LABELS, phase_kind
from .phase_plan import Phase

SELF_TRAINING_MODES = ('offline', 'ema_teacher')
Modes = Union[str, Dict[str, str]]


def mode_of(mode: Modes, kind: str) -> str:
    """The self-training mode of a phase kind under ``mode``."""
    if isinstance(mode, dict):
        return mode.get(kind, 'offline')
    return mode


def _check_modes(mode: Modes, kinds: Sequence[str]) -> Dict[str, str]:
    """``{kind: mode}`` of the plan's kinds that consume pseudo-labels."""
    values = list(mode.values()) if isinstance(mode, dict) else [mode]
    bad = [v for v in values if v not in SELF_TRAINING_MODES]
    if bad or not (isinstance(mode, (str, dict))):
        raise ConfigCheckError(
            f'train_cfg.self_training must be one of {SELF_TRAINING_MODES} '
            f'or a dict of them per phase kind, got {mode!r}')
    if isinstance(mode, dict):
        unknown = sorted(set(mode) - set(kinds))
        if unknown:
            raise ConfigCheckError(
                f'train_cfg.self_training names phase kinds {unknown} that '
                f'are not in the plan ({sorted(kinds)})')
    return {k: mode_of(mode, k) for k in kinds
            if PSEUDO_LABELS in phase_kind(k).consumes}


def check_self_training(mode: Modes, model, hook_names: Sequence[str],
                        init: Dict[str, str]) -> None:
    """Refuse an online self-training set-up that cannot work as written.

    Args:
        mode (str | dict): ``train_cfg.self_training``.
        model (nn.Module): The unwrapped BDL model.
        hook_names (Sequence[str]): Class names of the runner's hooks.
        init (dict): The resolved init policy per phase kind of the plan.

    Raises:
        ConfigCheckError | ConfigTypeError: Naming the config key to fix.
    """
    modes = _check_modes(mode, list(init))
    online = sorted(k for k, m in modes.items() if m == 'ema_teacher')
    offline = sorted(k for k, m in modes.items() if m == 'offline')
    requested = (mode.values() if isinstance(mode, dict) else [mode])
    if 'ema_teacher' not in requested:
        if 'EMATeacherHook' in hook_names:
            raise ConfigCheckError(
                'an EMATeacherHook is configured but train_cfg.self_training'
                " is 'offline', so no teacher would label anything; set "
                "train_cfg.self_training='ema_teacher' or remove the hook")
        return
    segmentor = getattr(model, 'segmentor', None)
    if not hasattr(segmentor, 'reset_teacher'):
        raise ConfigTypeError(
            "train_cfg.self_training='ema_teacher' needs a segmentor with "
            f'an EMA teacher, got {type(segmentor).__name__}; set '
            "model.segmentor.type='EMATeacherSegmentor'")
    if 'EMATeacherHook' not in hook_names:
        raise ConfigCheckError(
            "train_cfg.self_training='ema_teacher' needs the hook that "
            "updates the teacher: add dict(type='EMATeacherHook') to "
            'custom_hooks')
    if 'PseudoLabelHook' in hook_names and not offline:
        raise ConfigCheckError(
            "train_cfg.self_training='ema_teacher' labels the target "
            'batches online; remove the PseudoLabelHook from custom_hooks '
            '(it would write offline labels nobody reads)')
    for kind in online:
        if init.get(kind) != 'continue':
            raise ConfigCheckError(
                "train_cfg.self_training='ema_teacher' starts each teacher "
                'as the model the previous phase ended with and trains that '
                f"model further; set train_cfg.init.{kind}='continue' (got "
                f'{init.get(kind)!r})')


def _names_type(cfg, name: str) -> bool:
    """Whether a config (nested dicts and lists) holds ``type=name``."""
    if isinstance(cfg, dict):
        kind = cfg.get('type')
        if isinstance(kind, str) and kind.split('.')[-1] == name:
            return True
        return any(_names_type(v, name) for v in cfg.values())
    if isinstance(cfg, (list, tuple)):
        return any(_names_type(v, name) for v in cfg)
    return False


def warn_unused_ignore_mask(model, dataloader_cfgs: Iterable) -> bool:
    """Warn when a pipeline writes the border ignore mask that the teacher
    does not apply (``ema_cfg.ignore_mask`` off): the mask would be loaded
    and packed every step and then silently left out of the pseudo-label
    weights.

    Args:
        model (nn.Module): The unwrapped BDL model.
        dataloader_cfgs (Iterable): The loop's dataloader configs (built
            dataloaders are skipped).

    Returns:
        bool: Whether the warning was given.
    """
    ema_cfg = getattr(getattr(model, 'segmentor', None), 'ema_cfg', None)
    if ema_cfg is None or ema_cfg.get('ignore_mask'):
        return False
    if not any(_names_type(cfg, 'BorderIgnoreMask')
               for cfg in dataloader_cfgs if isinstance(cfg, dict)):
        return False
    print_log(
        'warning: a train pipeline has BorderIgnoreMask but '
        'model.segmentor.ema_cfg.ignore_mask is False, so the mask is '
        'not applied to the teacher\'s pseudo-label weights; set '
        'ema_cfg.ignore_mask=True (VFM-UDA) or remove the transform',
        logger='current', level=logging.WARNING)
    return True


def set_online_labels(model, phase: Phase, mode: Modes) -> None:
    """Switch the segmentor's online labelling on for the phase (or off).

    Args:
        model (nn.Module): The unwrapped BDL model.
        phase (Phase): The phase about to train.
        mode (str | dict): ``train_cfg.self_training``.
    """
    segmentor = getattr(model, 'segmentor', None)
    if hasattr(segmentor, 'online_self_training'):
        segmentor.online_self_training = (
            mode_of(mode, phase.kind) == 'ema_teacher'
            and PSEUDO_LABELS in phase.spec.consumes)
