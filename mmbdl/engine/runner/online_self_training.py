"""``train_cfg.self_training``: offline pseudo-label rounds or an EMA teacher.

``'offline'`` (the paper, default): before each phase that consumes
pseudo-labels (self-training) a ``PseudoLabelHook`` writes the target
pseudo-labels of the latest M to disk and the phase trains on them.
``'ema_teacher'``: the segmentor
(``EMATeacherSegmentor``) labels every target batch online with its EMA
teacher, which an ``EMATeacherHook`` keeps up to date; no pseudo-label
folder is written or read.
"""
from typing import Dict, Sequence

from mmbdl.utils.errors import ConfigCheckError, ConfigTypeError
from .phase_kinds import PSEUDO_LABELS, phase_kind
from .phase_plan import Phase

SELF_TRAINING_MODES = ('offline', 'ema_teacher')


def check_self_training(mode: str, model, hook_names: Sequence[str],
                        init: Dict[str, str]) -> None:
    """Refuse an online self-training set-up that cannot work as written.

    Args:
        mode (str): ``train_cfg.self_training``.
        model (nn.Module): The unwrapped BDL model.
        hook_names (Sequence[str]): Class names of the runner's hooks.
        init (dict): The resolved init policy per phase kind of the plan.

    Raises:
        ConfigCheckError | ConfigTypeError: Naming the config key to fix.
    """
    if mode not in SELF_TRAINING_MODES:
        raise ConfigCheckError(f'train_cfg.self_training must be one of '
                               f'{SELF_TRAINING_MODES}, got {mode!r}')
    if mode == 'offline':
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
    if 'PseudoLabelHook' in hook_names:
        raise ConfigCheckError(
            "train_cfg.self_training='ema_teacher' labels the target "
            'batches online; remove the PseudoLabelHook from custom_hooks '
            '(it would write offline labels nobody reads)')
    for kind, policy in init.items():
        if PSEUDO_LABELS in phase_kind(kind).consumes and \
                policy != 'continue':
            raise ConfigCheckError(
                "train_cfg.self_training='ema_teacher' starts each teacher "
                'as the model the previous phase ended with and trains that '
                f"model further; set train_cfg.init.{kind}='continue' (got "
                f'{policy!r})')


def set_online_labels(model, phase: Phase, mode: str) -> None:
    """Switch the segmentor's online labelling on for the phase (or off).

    Args:
        model (nn.Module): The unwrapped BDL model.
        phase (Phase): The phase about to train.
        mode (str): ``train_cfg.self_training``.
    """
    segmentor = getattr(model, 'segmentor', None)
    if hasattr(segmentor, 'online_self_training'):
        segmentor.online_self_training = (
            mode == 'ema_teacher' and PSEUDO_LABELS in phase.spec.consumes)
