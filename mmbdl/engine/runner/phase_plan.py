"""The plan of Algorithm 1: its phases in order, and per-kind settings."""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from mmbdl.utils.errors import ConfigCheckError

PHASE_KINDS = ('source_only', 'translation', 'adaptation', 'self_training')
SEGMENTATION_KINDS = ('source_only', 'adaptation', 'self_training')
INIT_POLICIES = ('continue', 'initial')
# keys a per-kind setting may be given under
KIND_KEYS = PHASE_KINDS + ('segmentation', )
# where a kind's settings are looked up when the kind itself has no entry
FALLBACK = {
    'source_only': ('source_only', 'segmentation'),
    'adaptation': ('adaptation', 'segmentation'),
    'self_training': ('self_training', 'segmentation'),
    'translation': ('translation', ),
}


@dataclass(frozen=True)
class Phase:
    """One phase of Algorithm 1.

    Attributes:
        index (int): Position in the plan.
        k (int): Outer (bidirectional) round, 0 for the source-only phase.
        i (int): Self-training round, 0 for M_0 / translation.
        kind (str): 'source_only', 'translation', 'adaptation' or
            'self_training'.
        name (str): e.g. 'k1_self_training_i1' (also the checkpoint name).
        begin (int): Global iteration at which the phase starts.
        iters (int): Iterations of the phase.
    """
    index: int
    k: int
    i: int
    kind: str
    name: str
    begin: int
    iters: int

    @property
    def end(self) -> int:
        """int: Global iteration after the phase's last iteration."""
        return self.begin + self.iters

    @property
    def is_segmentation(self) -> bool:
        """bool: Whether the phase trains the segmentor."""
        return self.kind in SEGMENTATION_KINDS

    @property
    def model_name(self) -> str:
        """str: The paper's name of the model the phase produces."""
        if self.kind == 'source_only':
            return 'M^(0)'
        if self.kind == 'translation':
            return f'F^({self.k})'
        return f'M_{self.i}^({self.k})(F^({self.k}))'


def plan_phases(num_rounds: int, num_ssl_rounds: int, source_only: bool,
                phase_iters: Dict[str, int]) -> List[Phase]:
    """The ordered phases of Algorithm 1.

    Args:
        num_rounds (int): K.
        num_ssl_rounds (int): N.
        source_only (bool): Whether M(0) is trained first.
        phase_iters (dict): Iterations per kind.

    Returns:
        list[Phase]: The plan.
    """
    specs: List[Tuple[int, int, str, str]] = []
    if source_only:
        specs.append((0, 0, 'source_only', 'k0_source_only'))
    for k in range(1, num_rounds + 1):
        specs.append((k, 0, 'translation', f'k{k}_translation'))
        specs.append((k, 0, 'adaptation', f'k{k}_adaptation'))
        for i in range(1, num_ssl_rounds + 1):
            specs.append((k, i, 'self_training', f'k{k}_self_training_i{i}'))
    phases, begin = [], 0
    for index, (k, i, kind, name) in enumerate(specs):
        iters = phase_iters[kind]
        phases.append(Phase(index, k, i, kind, name, begin, iters))
        begin += iters
    return phases


def lookup(table: Optional[dict], kind: str):
    """Value of ``kind`` in a phase-kind keyed dict, with fallbacks.

    Args:
        table (dict, optional): Keyed by phase kind or 'segmentation'.
        kind (str): A phase kind.

    Returns:
        The entry of the kind, else of its fallback key, else None.
    """
    if not table:
        return None
    for key in FALLBACK[kind]:
        if key in table:
            return table[key]
    return None


def used_kinds(num_ssl_rounds: int, source_only: bool) -> List[str]:
    """The phase kinds a plan with these settings contains."""
    kinds = ['translation', 'adaptation']
    if num_ssl_rounds > 0:
        kinds.append('self_training')
    if source_only:
        kinds.insert(0, 'source_only')
    return kinds


def locate(phases: Sequence[Phase], global_iter: int) -> Tuple[int, int]:
    """Phase index and local iteration of a global iteration.

    Args:
        phases (Sequence[Phase]): The plan.
        global_iter (int): Iterations completed.

    Returns:
        tuple[int, int]: ``(phase index, local iteration)``;
        ``(len(phases), 0)`` when everything is trained.
    """
    for phase in phases:
        if global_iter < phase.end:
            return phase.index, global_iter - phase.begin
    return len(phases), 0


def check_plan_args(num_rounds, num_ssl_rounds, source_only, phase_iters,
                    init, hook_names: Sequence[str]) -> None:
    """Refuse a loop config whose plan cannot run as written.

    Args:
        num_rounds: ``train_cfg.num_rounds`` (K).
        num_ssl_rounds: ``train_cfg.num_ssl_rounds`` (N).
        source_only: ``train_cfg.source_only``.
        phase_iters: ``train_cfg.phase_iters``.
        init: ``train_cfg.init``.
        hook_names (Sequence[str]): Class names of the runner's hooks.

    Raises:
        ValueError: Naming the offending key and the fix.
    """
    if not isinstance(num_rounds, int) or num_rounds < 1:
        raise ConfigCheckError(
            f'train_cfg.num_rounds (K) must be an int >= 1, got '
            f'{num_rounds!r}: the bidirectional loop needs at least one '
            'translation and adaptation round (for M(0) alone use '
            'IterBasedTrainLoop)')
    if not isinstance(num_ssl_rounds, int) or num_ssl_rounds < 0:
        raise ConfigCheckError(
            f'train_cfg.num_ssl_rounds (N) must be an int >= 0, got '
            f'{num_ssl_rounds!r}')
    if num_ssl_rounds == 0 and 'PseudoLabelHook' in hook_names:
        raise ConfigCheckError(
            'train_cfg.num_ssl_rounds (N) is 0 but a PseudoLabelHook is '
            'configured: the self-training phases it labels for would '
            'never run; set num_ssl_rounds >= 1 or remove the hook')
    if not isinstance(phase_iters, dict):
        raise ConfigCheckError(
            'train_cfg.phase_iters must be a dict of iterations per '
            'phase kind, e.g. dict(translation=100, adaptation=100, '
            f'self_training=100), got {phase_iters!r}')
    check_kind_keys(phase_iters, 'phase_iters')
    for kind in used_kinds(num_ssl_rounds, source_only):
        iters = lookup(phase_iters, kind)
        if iters is None:
            raise ConfigCheckError(
                f"train_cfg.phase_iters has no iterations for the '{kind}'"
                f' phases (K={num_rounds}, N={num_ssl_rounds}, '
                f'source_only={source_only}); add phase_iters[{kind!r}]')
        if not isinstance(iters, int) or iters < 1:
            raise ConfigCheckError(
                f"train_cfg.phase_iters['{kind}'] must be an int >= 1, "
                f'got {iters!r}')
    if num_ssl_rounds == 0 and 'self_training' in phase_iters:
        raise ConfigCheckError(
            "train_cfg.phase_iters['self_training'] is set but "
            'num_ssl_rounds (N) is 0, so no self-training phase runs; '
            'set N >= 1 or remove the entry')
    for kind, policy in (init or {}).items():
        if kind not in KIND_KEYS:
            raise ConfigCheckError(f'train_cfg.init has unknown key {kind!r}')
        if policy not in INIT_POLICIES:
            raise ConfigCheckError(
                f'train_cfg.init[{kind!r}] must be one of '
                f'{INIT_POLICIES}, got {policy!r}')


def check_max_iters(phases: Sequence[Phase],
                    max_iters: Optional[int]) -> None:
    """Refuse a ``train_cfg.max_iters`` that is not the plan's total."""
    total = phases[-1].end
    if max_iters is not None and max_iters != total:
        detail = ' + '.join(f'{p.name} {p.iters}' for p in phases)
        raise ConfigCheckError(
            f'train_cfg.max_iters={max_iters} but the phases add up to '
            f'{total} ({detail}); remove max_iters from '
            'train_cfg or make phase_iters add up to it')


def check_kind_keys(table: Optional[dict], key: str) -> None:
    """Refuse unknown keys in a per-kind ``train_cfg`` dict."""
    for kind in list(table or {}):
        if kind not in KIND_KEYS:
            raise ConfigCheckError(
                f'train_cfg.{key} has unknown key {kind!r}; '
                f'use one of {PHASE_KINDS} or segmentation')


def resolve_plan(num_rounds, num_ssl_rounds, source_only, phase_iters, init,
                 max_iters: Optional[int], hook_names: Sequence[str]
                 ) -> Tuple[List[str], Dict[str, int], Dict[str, str],
                            List[Phase]]:
    """Check the loop's plan settings and resolve them per phase kind.

    Args:
        num_rounds, num_ssl_rounds, source_only, phase_iters, init,
            max_iters: The ``train_cfg`` entries of the same names.
        hook_names (Sequence[str]): Class names of the runner's hooks.

    Returns:
        tuple: The used kinds, the iterations and the init policy per kind
        (``'initial'`` for self-training and ``'continue'`` otherwise
        unless set), and the plan.
    """
    check_plan_args(num_rounds, num_ssl_rounds, source_only, phase_iters,
                    init, hook_names)
    kinds = used_kinds(num_ssl_rounds, source_only)
    iters = {k: int(lookup(phase_iters, k)) for k in kinds}
    policies = {}
    for kind in kinds:
        default = 'initial' if kind == 'self_training' else 'continue'
        policies[kind] = lookup(init, kind) or default
    phases = plan_phases(num_rounds, num_ssl_rounds, source_only, iters)
    check_max_iters(phases, max_iters)
    return kinds, iters, policies, phases
