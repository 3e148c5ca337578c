"""Hook that keeps the EMA teacher of online self-training up to date."""
from typing import Optional, Sequence

from mmengine.hooks import Hook

from mmbdl.registry import HOOKS
from mmbdl.utils.errors import ConfigCheckError, ConfigTypeError
from mmbdl.utils.errors import ConfigCheckError
from mmbdl.utils.model_utils import unwrap_model


def _teacher_owner(runner):
    """The sub-model holding ``teacher`` (BDL.segmentor or the model)."""
    model = unwrap_model(runner.model)
    for candidate in (getattr(model, 'segmentor', None), model):
        if candidate is not None and hasattr(candidate, 'ema_update'):
            return candidate
    raise ConfigTypeError(
        f'EMATeacherHook needs a model holding an EMA teacher, got '
        f'{type(model).__name__}'
        + (f' with segmentor {type(model.segmentor).__name__}'
           if hasattr(model, 'segmentor') else '')
        + "; set model.segmentor.type='EMATeacherSegmentor'")


@HOOKS.register_module()
class EMATeacherHook(Hook):
    """Updates the EMA teacher of :class:`EMATeacherSegmentor`; nothing else.

    - ``before_phase`` of a phase whose kind is in ``kinds``: the teacher
      becomes a copy of the current M (the model the previous phase ended
      with) and the phase's pixel statistics restart.
    - ``after_train_iter`` while the segmentor is self-training online:
      ``teacher = alpha * teacher + (1 - alpha) * M``, every ``interval``
      iterations.

    The teacher is part of the model's weights, so it is saved in every
    checkpoint and restored on resume. Ranks hold identical students (the
    gradients are averaged), so the deterministic update keeps the teachers
    identical too.

    Args:
        alpha (float): EMA decay. Defaults to 0.999 (DAFormer's).
        interval (int): Iterations between updates. Defaults to 1.
        kinds (Sequence[str]): Phase kinds that start a teacher.
            Defaults to ('self_training', ).
    """

    priority = 'NORMAL'

    def __init__(self,
                 alpha: float = 0.999,
                 interval: int = 1,
                 kinds: Sequence[str] = ('self_training', )) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ConfigCheckError(f'EMATeacherHook.alpha must be in [0, 1], got '
                                   f'{alpha}')
        if not isinstance(interval, int) or interval < 1:
            raise ConfigCheckError(f'EMATeacherHook.interval must be an int >= 1, '
                                   f'got {interval!r}')
        self.alpha = float(alpha)
        self.interval = interval
        self.kinds = tuple(kinds)

    def before_run(self, runner) -> None:
        """Fail early without a teacher."""
        _teacher_owner(runner)

    def before_phase(self, runner, phase) -> None:
        """Start the teacher of a self-training phase from the current M."""
        if phase.kind in self.kinds:
            _teacher_owner(runner).reset_teacher()
            runner.logger.info(f'{phase.name}: EMA teacher <- current '
                               f'segmentor (alpha={self.alpha})')

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        """One EMA step while the segmentor self-trains online."""
        owner = _teacher_owner(runner)
        if not getattr(owner, 'online_self_training', False):
            return
        if (runner.iter + 1) % self.interval == 0:
            owner.ema_update(self.alpha)
