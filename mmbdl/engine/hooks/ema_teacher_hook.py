"""Hook that keeps the EMA teacher of online self-training up to date."""
from typing import Optional, Sequence

from mmbdl.registry import HOOKS
from mmbdl.utils.errors import ConfigCheckError, ConfigTypeError
from mmbdl.utils.model_utils import unwrap_model
from .bdl_hook import BDLHook, PhaseArtifacts
from .phase_outputs import serves

ARTIFACT = 'pseudo_labels'


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
class EMATeacherHook(BDLHook):
    """Updates the EMA teacher of :class:`EMATeacherSegmentor`; nothing else.

    - ``before_phase`` of a phase whose kind consumes pseudo-labels (or is
      in ``kinds``): the teacher becomes a copy of the current M (the model
      the previous phase ended with) and the phase's pixel statistics
      restart.
    - ``after_train_iter`` while the segmentor is self-training online, or
      in a phase of a kind in ``kinds`` (teacher terms in a phase that
      consumes no pseudo-labels, e.g. VFM-UDA's terms in an adaptation
      phase): ``teacher = alpha * teacher + (1 - alpha) * M``, every
      ``interval`` iterations.
    - ``after_phase`` of such a phase: returns the phase's label statistics
      (``PhaseArtifacts.pseudo_label_stats``, from
      ``EMATeacherSegmentor.label_statistics``) for the round table.

    The teacher is part of the model's weights, so it is saved in every
    checkpoint and restored on resume. Ranks hold identical students (the
    gradients are averaged), so the deterministic update keeps the teachers
    identical too.

    With ``ramp=True`` the decay of the update after the phase's ``t``-th
    iteration (``t = 1, 2, ...``) is ``min(1 - 1 / (t + 1), alpha)``
    (DAFormer's and VFM-UDA's: 0.5 after the first step, ``alpha`` from
    ``t = 1 / (1 - alpha) - 1`` on); ``t`` counts from the phase's start,
    so a resumed phase continues the same sequence.

    Args:
        alpha (float): EMA decay. Defaults to 0.999 (DAFormer's).
        interval (int): Iterations between updates. Defaults to 1.
        kinds (Sequence[str], optional): Phase kinds that start a teacher.
            Defaults to None (the kinds consuming pseudo-labels).
        ramp (bool): Ramp the decay up from 0.5 as above. Defaults to
            False (``alpha`` from the first update).
    """

    priority = 'NORMAL'

    def __init__(self,
                 alpha: float = 0.999,
                 interval: int = 1,
                 kinds: Optional[Sequence[str]] = None,
                 ramp: bool = False) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ConfigCheckError(
                f'EMATeacherHook.alpha must be in [0, 1], got {alpha}')
        if not isinstance(interval, int) or interval < 1:
            raise ConfigCheckError(
                f'EMATeacherHook.interval must be an int >= 1, got '
                f'{interval!r}')
        self.alpha = float(alpha)
        self.interval = interval
        self.kinds = None if kinds is None else tuple(kinds)
        self.ramp = bool(ramp)

    def before_run(self, runner) -> None:
        """Fail early without a teacher."""
        _teacher_owner(runner)

    def before_phase(self, runner, phase) -> None:
        """Start the teacher of a self-training phase from the current M."""
        if serves(phase, self.kinds, ARTIFACT, 'consumes'):
            _teacher_owner(runner).reset_teacher()
            runner.logger.info(f'{phase.name}: EMA teacher <- current '
                               f'segmentor (alpha={self.alpha})')

    def after_phase(self, runner, phase) -> Optional[PhaseArtifacts]:
        """The label statistics of a finished self-training phase."""
        if not serves(phase, self.kinds, ARTIFACT, 'consumes'):
            return None
        return PhaseArtifacts(
            pseudo_label_stats=_teacher_owner(runner).label_statistics())

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        """One EMA step while the segmentor self-trains online, or in a
        phase of ``kinds``."""
        owner = _teacher_owner(runner)
        phase = getattr(runner.train_loop, 'current_phase', None)
        named = (self.kinds is not None and phase is not None
                 and phase.kind in self.kinds)
        if not (named or getattr(owner, 'online_self_training', False)):
            return
        if (runner.iter + 1) % self.interval == 0:
            alpha = self.alpha
            if self.ramp:
                begin = phase.begin if phase is not None else 0
                alpha = ramped_alpha(runner.iter + 1 - begin, self.alpha)
            owner.ema_update(alpha)


def ramped_alpha(step: int, alpha: float) -> float:
    """``min(1 - 1 / (step + 1), alpha)``: the decay after ``step``
    completed iterations (``step >= 1``)."""
    return min(1.0 - 1.0 / (step + 1), alpha)
