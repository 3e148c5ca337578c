"""The phase events of the BDL loop and the artifacts hooks return.

:class:`~mmbdl.engine.runner.BidirectionalTrainLoop` calls
``before_phase(runner, phase)`` before a phase's first iteration and
``after_phase(runner, phase)`` after its last one, on every hook that is a
:class:`BDLHook`. A hook that writes something a later phase trains on
returns it as a :class:`PhaseArtifacts`; the loop keeps the record, saves
it in its checkpoints and builds the next phases' dataloaders from it.
"""
import copy
from dataclasses import asdict, dataclass, fields
from typing import Optional

from mmengine.hooks import Hook

from mmbdl.utils.errors import ConfigTypeError

PHASE_EVENTS = ('before_phase', 'after_phase')


@dataclass
class PhaseArtifacts:
    """What phases hand on to later phases.

    Attributes:
        translated_source_dir (str, optional): The translated source set
            S' = F(S) of the latest translation phase (complete folder).
        pseudo_label_dir (str, optional): The pseudo-labels of the target
            set for the next phase that consumes them (complete folder).
        pseudo_label_stats (dict, optional): Statistics of those labels
            (``kept_ratio`` / ``pixel_ratio``: the paper's pixel ratio),
            reported in the round table.
    """

    translated_source_dir: Optional[str] = None
    pseudo_label_dir: Optional[str] = None
    pseudo_label_stats: Optional[dict] = None

    def update(self, other: Optional['PhaseArtifacts']) -> None:
        """Take every field ``other`` sets (not None).

        Args:
            other (PhaseArtifacts, optional): What a hook returned.

        Raises:
            TypeError: For anything but a PhaseArtifacts or None (a hook's
                return value is the loop's input, never ignored).
        """
        if other is None:
            return
        if not isinstance(other, PhaseArtifacts):
            raise TypeError(
                'a BDLHook phase event returns PhaseArtifacts or None, got '
                f'{type(other).__name__}')
        for field in fields(self):
            value = getattr(other, field.name)
            if value is not None:
                setattr(self, field.name, copy.deepcopy(value))

    def to_dict(self) -> dict:
        """The record as a plain dict (for checkpoints)."""
        return copy.deepcopy(asdict(self))

    @classmethod
    def from_dict(cls, state: Optional[dict]) -> 'PhaseArtifacts':
        """The record of :meth:`to_dict` (unknown keys are refused)."""
        state = dict(state or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(state) - known)
        if unknown:
            raise KeyError(f'unknown phase artifacts {unknown}; known: '
                           f'{sorted(known)}')
        return cls(**copy.deepcopy(state))


class BDLHook(Hook):
    """A hook with the BDL loop's phase events.

    Subclasses override one or both events; each may return the
    :class:`PhaseArtifacts` it produced (the fields it sets replace the
    loop's), or None.
    """

    def before_phase(self, runner, phase) -> Optional[PhaseArtifacts]:
        """Called before the first iteration of a phase (not on resume).

        Args:
            runner (Runner): The runner.
            phase (Phase): The phase about to start.

        Returns:
            PhaseArtifacts | None: What the hook produced.
        """
        return None

    def after_phase(self, runner, phase) -> Optional[PhaseArtifacts]:
        """Called after the last iteration of a phase.

        Args:
            runner (Runner): The runner.
            phase (Phase): The finished phase.

        Returns:
            PhaseArtifacts | None: What the hook produced.
        """
        return None


def check_phase_hooks(hooks) -> None:
    """Refuse a hook with phase events that is no BDLHook (the loop would
    not call them)."""
    for hook in hooks:
        if isinstance(hook, BDLHook):
            continue
        events = [e for e in PHASE_EVENTS if callable(getattr(hook, e, None))]
        if events:
            raise ConfigTypeError(
                f'{type(hook).__name__} defines {events} but is no BDLHook, '
                'so the loop would never call them; derive it from '
                'mmbdl.engine.hooks.BDLHook')
