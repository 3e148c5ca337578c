"""The plan of Algorithm 1: its phases in order, per-kind settings, and the
checks of the loop's plan settings.

The plan is config data: the phase kinds before the first round
(``first``) and those of each of the K rounds (``round``), each a kind's
name or ``dict(kind=..., repeat=n)`` (numbered ``i = 1..n``). Without
``train_cfg.plan`` it is the paper's (:func:`.phase_kinds.paper_plan`, from
``source_only`` and ``num_ssl_rounds``). What each kind does is its spec's
(:mod:`.phase_kinds`).

``train_cfg.self_training`` says where the pseudo-labels of the kinds that
consume them come from. ``'offline'`` (the paper, default): before each
such phase a ``PseudoLabelHook`` writes the target pseudo-labels of the
latest M to disk and the phase trains on them. ``'ema_teacher'``: the
segmentor (``EMATeacherSegmentor``) labels every target batch online with
its EMA teacher, which an ``EMATeacherHook`` keeps up to date; no
pseudo-label folder is written or read. A dict gives the mode per phase
kind, e.g. ``dict(uda='ema_teacher', self_training='offline')`` (kinds it
does not name are 'offline'): a plan can start with VFM-UDA's online phase
and continue with BDL's offline rounds. The hooks then name the kinds they
serve (``EMATeacherHook(kinds=['uda'])``, ``PseudoLabelHook(kinds=[...])``).
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

from mmbdl.utils.errors import ConfigCheckError, ConfigTypeError
from .phase_kinds import (INIT_POLICIES, PAPER_KINDS, PSEUDO_LABELS, PhaseKind,
                          kind_keys, paper_plan, phase_kind, registered_kinds)

# the paper's kinds (kept for the tools that list them)
PHASE_KINDS = PAPER_KINDS
PLAN_KEYS = ('first', 'round')


@dataclass(frozen=True)
class Phase:
    """One phase of Algorithm 1.

    Attributes:
        index (int): Position in the plan.
        k (int): Outer (bidirectional) round, 0 before the first round.
        i (int): Number of the phase among the repeats of its kind in the
            round (1, 2, ...), 0 for kinds that do not repeat.
        kind (str): A registered phase kind (:mod:`.phase_kinds`).
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
    def spec(self) -> PhaseKind:
        """PhaseKind: What the phase's kind trains and needs."""
        return phase_kind(self.kind)

    @property
    def is_segmentation(self) -> bool:
        """bool: Whether the phase trains the segmentor."""
        return self.spec.is_segmentation

    @property
    def model_name(self) -> str:
        """str: The paper's name of the model the phase produces."""
        return self.spec.model_name(self.k, self.i)


def normalise_plan(plan) -> Dict[str, List[Tuple[str, int]]]:
    """``train_cfg.plan`` as ``(kind, repeat)`` lists, checked.

    Args:
        plan (dict): ``first`` and ``round`` lists of kind names or
            ``dict(kind=..., repeat=n)``.

    Returns:
        dict: ``first`` / ``round`` lists of ``(kind, repeat)``.
    """
    if not isinstance(plan, dict) or set(plan) - set(PLAN_KEYS):
        raise ConfigCheckError(
            'train_cfg.plan must be a dict with the keys first (phases '
            'before round 1) and round (phases of every round), e.g. the '
            f'paper\'s {paper_plan(True, 2)}, got {plan!r}')
    out = {}
    for part in PLAN_KEYS:
        entries = []
        for entry in plan.get(part) or []:
            if isinstance(entry, str):
                entry = dict(kind=entry)
            if not isinstance(entry, dict) or 'kind' not in entry or \
                    set(entry) - {'kind', 'repeat'}:
                raise ConfigCheckError(
                    f'train_cfg.plan.{part} entries are kind names or '
                    f'dict(kind=..., repeat=n), got {entry!r}')
            spec = phase_kind(entry['kind'])
            repeat = entry.get('repeat', 1)
            if not isinstance(repeat, int) or repeat < 0 or (
                    repeat > 1 and not spec.indexed):
                raise ConfigCheckError(
                    f'train_cfg.plan.{part}: repeat of {spec.name!r} must '
                    'be an int >= 0' + ('' if spec.indexed else
                                        ' and at most 1 (its phases are '
                                        'not numbered)') +
                    f', got {repeat!r}')
            entries.append((spec.name, repeat))
        out[part] = entries
    if not out['round']:
        raise ConfigCheckError('train_cfg.plan.round names no phase')
    return out


def plan_kinds(plan: Dict[str, List[Tuple[str, int]]]) -> List[str]:
    """The phase kinds a normalised plan contains, in order of appearance.
    """
    kinds: List[str] = []
    for part in PLAN_KEYS:
        for kind, repeat in plan[part]:
            if repeat and kind not in kinds:
                kinds.append(kind)
    return kinds


def plan_from(num_rounds: int, plan: Dict[str, List[Tuple[str, int]]],
              phase_iters: Dict[str, int]) -> List[Phase]:
    """The ordered phases of a normalised plan.

    Args:
        num_rounds (int): K.
        plan (dict): See :func:`normalise_plan`.
        phase_iters (dict): Iterations per kind.

    Returns:
        list[Phase]: The plan.
    """
    specs: List[Tuple[int, int, str]] = []
    rounds = [(0, plan['first'])] + [(k, plan['round'])
                                     for k in range(1, num_rounds + 1)]
    for k, entries in rounds:
        for kind, repeat in entries:
            numbers = range(1, repeat + 1) if phase_kind(kind).indexed \
                else range(min(repeat, 1))
            for i in numbers:
                specs.append((k, i, kind))
    phases, begin = [], 0
    for index, (k, i, kind) in enumerate(specs):
        iters = round_iters(phase_iters[kind], k)
        name = phase_kind(kind).phase_name(k, i)
        phases.append(Phase(index, k, i, kind, name, begin, iters))
        begin += iters
    names = [p.name for p in phases]
    if len(set(names)) != len(names):
        raise ConfigCheckError(
            f'train_cfg.plan gives two phases the same name ({names}); a '
            'kind appears at most once per round unless it is numbered')
    return phases


def round_iters(iters, k: int) -> int:
    """A kind's iterations in round ``k``.

    Args:
        iters (int | Sequence[int]): ``phase_iters`` of the kind: one
            budget for every round, or one per round (``[round 1, round 2,
            ...]``, e.g. a translator that continues from the previous
            round's weights needs fewer iterations in later rounds).
        k (int): The round (0 before the first round).

    Returns:
        int: The iterations.
    """
    if isinstance(iters, (list, tuple)):
        return int(iters[max(k, 1) - 1])
    return int(iters)


def plan_phases(num_rounds: int, num_ssl_rounds: int, source_only: bool,
                phase_iters: Dict[str, int]) -> List[Phase]:
    """The ordered phases of the paper's plan (Algorithm 1).

    Args:
        num_rounds (int): K.
        num_ssl_rounds (int): N.
        source_only (bool): Whether M(0) is trained first.
        phase_iters (dict): Iterations per kind.

    Returns:
        list[Phase]: The plan.
    """
    plan = normalise_plan(paper_plan(source_only, num_ssl_rounds))
    return plan_from(num_rounds, plan, phase_iters)


def lookup(table: Optional[dict], kind: str):
    """Value of ``kind`` in a phase-kind keyed dict, with fallbacks.

    Args:
        table (dict, optional): Keyed by phase kind or a fallback key
            (segmentation).
        kind (str): A phase kind.

    Returns:
        The entry of the kind, else of its fallback key, else None.
    """
    if not table:
        return None
    for key in phase_kind(kind).keys:
        if key in table:
            return table[key]
    return None


def used_kinds(num_ssl_rounds: int, source_only: bool) -> List[str]:
    """The phase kinds the paper's plan with these settings contains."""
    return plan_kinds(normalise_plan(paper_plan(source_only,
                                                num_ssl_rounds)))


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


def resolve_plan_entries(plan, num_ssl_rounds, source_only
                         ) -> Dict[str, List[Tuple[str, int]]]:
    """The normalised plan: ``train_cfg.plan``, or the paper's from
    ``source_only`` (default True) and ``num_ssl_rounds`` (default 2)."""
    if plan is not None:
        given = [k for k, v in dict(num_ssl_rounds=num_ssl_rounds,
                                    source_only=source_only).items()
                 if v is not None]
        if given:
            raise ConfigCheckError(
                f'train_cfg.plan is set, so train_cfg.{given[0]} has no '
                'effect; give the phases in plan only')
        return normalise_plan(plan)
    num_ssl_rounds = 2 if num_ssl_rounds is None else num_ssl_rounds
    source_only = True if source_only is None else source_only
    if not isinstance(num_ssl_rounds, int) or num_ssl_rounds < 0:
        raise ConfigCheckError(
            f'train_cfg.num_ssl_rounds (N) must be an int >= 0, got '
            f'{num_ssl_rounds!r}')
    return normalise_plan(paper_plan(source_only, num_ssl_rounds))


def check_plan_args(num_rounds, plan: Dict[str, List[Tuple[str, int]]],
                    phase_iters, init, hook_names: Sequence[str]) -> None:
    """Refuse a loop config whose plan cannot run as written.

    Args:
        num_rounds: ``train_cfg.num_rounds`` (K).
        plan (dict): The normalised plan.
        phase_iters: ``train_cfg.phase_iters``.
        init: ``train_cfg.init``.
        hook_names (Sequence[str]): Class names of the runner's hooks.

    Raises:
        ConfigCheckError: Naming the offending key and the fix.
    """
    if not isinstance(num_rounds, int) or num_rounds < 1:
        raise ConfigCheckError(
            f'train_cfg.num_rounds (K) must be an int >= 1, got '
            f'{num_rounds!r}: the bidirectional loop needs at least one '
            'translation and adaptation round (for M(0) alone use '
            'IterBasedTrainLoop)')
    kinds = plan_kinds(plan)
    labelled = [k for k in kinds if PSEUDO_LABELS in phase_kind(k).consumes]
    zero = [kind for kind, repeat in plan['round'] if repeat == 0]
    if not labelled and 'PseudoLabelHook' in hook_names:
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
    for kind in kinds:
        iters = lookup(phase_iters, kind)
        if iters is None:
            raise ConfigCheckError(
                f"train_cfg.phase_iters has no iterations for the '{kind}'"
                f' phases (K={num_rounds}, plan={plan}); add '
                f'phase_iters[{kind!r}]')
        in_first = any(name == kind and repeat
                       for name, repeat in plan['first'])
        if isinstance(iters, (list, tuple)):
            if in_first or len(iters) != num_rounds:
                where = ('it also runs before the first round'
                         if in_first else
                         f'K={num_rounds} rounds, {len(iters)} values')
                raise ConfigCheckError(
                    f"train_cfg.phase_iters['{kind}'] is a list of "
                    f'per-round iterations but {where}; give one int, or '
                    'one int per round for a kind that runs only in the '
                    'rounds')
            values = list(iters)
        else:
            values = [iters]
        if not all(isinstance(v, int) and not isinstance(v, bool) and
                   v >= 1 for v in values):
            raise ConfigCheckError(
                f"train_cfg.phase_iters['{kind}'] must be an int >= 1 "
                f'(or one per round), got {iters!r}')
    for kind in zero:
        if kind in phase_iters and kind not in kinds:
            raise ConfigCheckError(
                f"train_cfg.phase_iters['{kind}'] is set but it repeats 0 "
                f'times per round (num_ssl_rounds (N) is 0 for '
                'self-training), so no such phase runs; set N >= 1 or '
                'remove the entry')
    for kind, policy in (init or {}).items():
        if kind not in kind_keys():
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
        if kind not in kind_keys():
            extra = sorted(set(kind_keys()) - set(registered_kinds()))
            raise ConfigCheckError(
                f'train_cfg.{key} has unknown key {kind!r}; use one of '
                f'{registered_kinds()} or ' + ', '.join(extra))


def drop_translator_phases(plan: Dict[str, List[Tuple[str, int]]]
                           ) -> Dict[str, List[Tuple[str, int]]]:
    """A normalised plan without the kinds that train the translator.

    For a translator that does not train (its ``trains`` is False, e.g.
    FDA): it translates as it is, so there is no F phase to run.

    Args:
        plan (dict): See :func:`normalise_plan`.

    Returns:
        dict: The plan without those entries.
    """
    out = {part: [(kind, repeat) for kind, repeat in entries
                  if phase_kind(kind).trains != 'translator']
           for part, entries in plan.items()}
    if not out['round']:
        raise ConfigCheckError(
            'train_cfg.plan.round names only translator phases, and the '
            'translator does not train: no phase would run')
    return out


def resolve_plan(num_rounds, num_ssl_rounds, source_only, phase_iters, init,
                 max_iters: Optional[int], hook_names: Sequence[str],
                 plan: Optional[dict] = None,
                 translator_trains: bool = True
                 ) -> Tuple[List[str], Dict[str, int], Dict[str, str],
                            List[Phase]]:
    """Check the loop's plan settings and resolve them per phase kind.

    Args:
        num_rounds, num_ssl_rounds, source_only, phase_iters, init,
            max_iters: The ``train_cfg`` entries of the same names.
        hook_names (Sequence[str]): Class names of the runner's hooks.
        plan (dict, optional): ``train_cfg.plan``. Defaults to None (the
            paper's plan from ``source_only`` and ``num_ssl_rounds``).
        translator_trains (bool): The translator's ``trains``; False drops
            the phases that would train it (:func:`drop_translator_phases`).
            Defaults to True.

    Returns:
        tuple: The used kinds, the iterations and the init policy per kind
        (the spec's ``default_init`` unless set), and the plan.
    """
    entries = resolve_plan_entries(plan, num_ssl_rounds, source_only)
    if not translator_trains:
        entries = drop_translator_phases(entries)
    check_plan_args(num_rounds, entries, phase_iters, init, hook_names)
    kinds = plan_kinds(entries)
    iters = {k: lookup(phase_iters, k) for k in kinds}
    iters = {k: tuple(int(n) for n in v) if isinstance(v, (list, tuple))
             else int(v) for k, v in iters.items()}
    policies = {kind: lookup(init, kind) or phase_kind(kind).default_init
                for kind in kinds}
    phases = plan_from(num_rounds, entries, iters)
    check_max_iters(phases, max_iters)
    return kinds, iters, policies, phases


# ----------------------------------------------------------------------
# train_cfg.self_training: offline pseudo-label rounds or an EMA teacher
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
