"""The kinds of phase of the BDL loop, one spec class per kind.

A phase kind says what a phase trains and how; the loop, the plan, the
model and the hooks read the spec instead of branching on the kind's name.
A new kind is one class registered in :data:`~mmbdl.registry.PHASE_KINDS`
plus its place in ``train_cfg.plan``::

    @PHASE_KINDS.register_module()
    class TargetFinetunePhase(PhaseKind):
        name = 'target_finetune'
        consumes = ('pseudo_labels', )

The four kinds of Algorithm 1 are registered here under their names
('source_only', 'translation', 'adaptation', 'self_training'), and one for
online UDA on the original source ('uda', VFM-UDA's recipe).
"""
from typing import Dict, Optional, Tuple

from mmbdl.models.algorithms.bdl import TRAINED_PARTS
from mmbdl.registry import PHASE_KINDS
from mmbdl.utils.errors import ConfigCheckError

# what a phase can consume or produce (fields of PhaseArtifacts)
TRANSLATED_SOURCE = 'translated_source'
PSEUDO_LABELS = 'pseudo_labels'
ARTIFACTS = (TRANSLATED_SOURCE, PSEUDO_LABELS)
INIT_POLICIES = ('continue', 'initial')


class PhaseKind:
    """What a kind of phase trains and what it needs.

    Attributes:
        name (str): The kind's name in configs (``phase_iters``, ``init``,
            ``optim_wrapper``, ...) and in phase names.
        trains (str): The BDL sub-model it trains: 'segmentor' or
            'translator'.
        consumes (tuple[str]): Artifacts of earlier phases it trains on:
            'translated_source' (S' = F(S), written after the phases that
            produce it) and / or 'pseudo_labels' (written before the phase,
            or made online by an EMA teacher).
        produces (tuple[str]): Artifacts written after the phase.
        fallback (tuple[str]): Keys of a per-kind config dict looked up
            in order when the kind's own name is absent (e.g.
            'segmentation').
        default_init (str): Weights the phase starts from unless
            ``train_cfg.init`` says otherwise: 'continue' (the current
            ones) or 'initial' (those the run started with).
        adversarial (bool, optional): The segmentor's ``adversarial``
            switch during the phase; None keeps the model's own setting.
        indexed (bool): Phases of this kind may repeat within a round and
            are numbered ``i = 1, 2, ...`` (name suffix ``_i{i}``); other
            kinds have ``i = 0``.
        terms (tuple[str], optional): The loss terms M sums in the phase,
            by role: 'source_ce', 'adversarial' (dropped while the
            segmentor's ``adversarial`` switch is off) and 'pseudo_labels'
            (the segmentor's pseudo-label term: offline labels, or the EMA
            teacher's online). None: derived from the other declarations
            (:attr:`loss_terms`). A segmentor config's ``loss_terms`` entry
            under the kind's name replaces them.
    """

    name: str = ''
    trains: str = 'segmentor'
    consumes: Tuple[str, ...] = ()
    produces: Tuple[str, ...] = ()
    fallback: Tuple[str, ...] = ('segmentation', )
    default_init: str = 'continue'
    adversarial: Optional[bool] = None
    indexed: bool = False
    terms: Optional[Tuple[str, ...]] = None

    @property
    def loss_terms(self) -> Tuple[str, ...]:
        """tuple[str]: :attr:`terms`, else source CE, the adversarial term
        unless ``adversarial=False``, and the pseudo-label term when the
        kind consumes pseudo-labels (none for the translator)."""
        if self.terms is not None:
            return tuple(self.terms)
        if not self.is_segmentation:
            return ()
        out = ('source_ce', )
        if self.adversarial is not False:
            out += ('adversarial', )
        if PSEUDO_LABELS in self.consumes:
            out += ('pseudo_labels', )
        return out

    @property
    def is_segmentation(self) -> bool:
        """bool: Whether the phase trains the segmentor M."""
        return self.trains == 'segmentor'

    @property
    def keys(self) -> Tuple[str, ...]:
        """tuple[str]: The kind's name, then its fallback keys."""
        return (self.name, ) + tuple(self.fallback)

    def phase_name(self, k: int, i: int) -> str:
        """The phase's name (also its checkpoint's), e.g. ``k1_adaptation``.
        """
        return f'k{k}_{self.name}' + (f'_i{i}' if self.indexed else '')

    def model_name(self, k: int, i: int) -> str:
        """The paper's name of the model the phase produces."""
        if self.trains == 'translator':
            return f'F^({k})'
        return f'M_{i}^({k})(F^({k}))'

    def apply_to(self, model) -> None:
        """Tell a BDL model what the phase trains (``BDL.set_phase``): the
        sub-model, M's loss terms and the adversarial switch. The model
        runs the step; the kind only describes it.

        Args:
            model (BDL): The unwrapped BDL model.
        """
        model.set_phase(self.name, trains=self.trains,
                        loss_terms=self.loss_terms,
                        adversarial=self.adversarial)

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.name!r})'


@PHASE_KINDS.register_module(name='source_only')
class SourceOnlyPhase(PhaseKind):
    """M(0): cross-entropy on the source images only (no D, no target)."""

    name = 'source_only'
    adversarial = False
    terms = ('source_ce', )

    def phase_name(self, k: int, i: int) -> str:
        return 'k0_source_only'

    def model_name(self, k: int, i: int) -> str:
        return 'M^(0)'


@PHASE_KINDS.register_module(name='translation')
class TranslationPhase(PhaseKind):
    """F(k): the perceptual CycleGAN of Eq. 2; S' = F(S) is written after.
    """

    name = 'translation'
    trains = 'translator'
    produces = (TRANSLATED_SOURCE, )
    fallback = ()


@PHASE_KINDS.register_module(name='adaptation')
class AdaptationPhase(PhaseKind):
    """M_0(k): Eq. 1 (source CE + adversarial) on S'(k) and T."""

    name = 'adaptation'
    consumes = (TRANSLATED_SOURCE, )
    terms = ('source_ce', 'adversarial')


@PHASE_KINDS.register_module(name='self_training')
class SelfTrainingPhase(PhaseKind):
    """M_i(k): Eq. 3 with the pseudo-labels of M_{i-1}(k)."""

    name = 'self_training'
    consumes = (TRANSLATED_SOURCE, PSEUDO_LABELS)
    default_init = 'initial'
    indexed = True
    terms = ('source_ce', 'adversarial', 'pseudo_labels')


@PHASE_KINDS.register_module(name='uda')
class OnlineUDAPhase(PhaseKind):
    """M on the original source and the target with the EMA teacher's
    online labels (VFM-UDA, DAFormer): source CE + the teacher's
    pseudo-label term by default; a ``loss_terms.uda`` list names others
    (VFM-UDA: weakly jittered source CE, class-mix, token-masked
    consistency). Needs ``train_cfg.self_training='ema_teacher'``."""

    name = 'uda'
    consumes = (PSEUDO_LABELS, )
    adversarial = False
    terms = ('source_ce', 'pseudo_labels')

    def model_name(self, k: int, i: int) -> str:
        return f'M_uda^({k})'


_BUILT: Dict[str, PhaseKind] = {}


def phase_kind(name: str) -> PhaseKind:
    """The spec of a registered phase kind.

    Args:
        name (str): The kind's registered name.

    Returns:
        PhaseKind: One shared instance per kind.

    Raises:
        ConfigCheckError: For a name no spec is registered under.
    """
    cls = PHASE_KINDS.get(name) if isinstance(name, str) else None
    if not (isinstance(cls, type) and issubclass(cls, PhaseKind)):
        raise ConfigCheckError(
            f'unknown phase kind {name!r}; registered kinds: '
            f'{registered_kinds()} (a new kind is a PhaseKind subclass '
            'registered in mmbdl.registry.PHASE_KINDS)')
    spec = _BUILT.get(name)
    if spec is None or type(spec) is not cls:
        spec = _BUILT[name] = cls()
        check_spec(spec, name)
    return spec


def check_spec(spec: PhaseKind, name: str) -> None:
    """Refuse a spec whose declarations the loop cannot follow."""
    if spec.name != name:
        raise ConfigCheckError(
            f'{type(spec).__name__} is registered as {name!r} but declares '
            f'name={spec.name!r}; register it under its name')
    if spec.trains not in TRAINED_PARTS:
        raise ConfigCheckError(
            f'phase kind {name!r}: trains must be one of {TRAINED_PARTS}, '
            f'got {spec.trains!r}')
    for what in ('consumes', 'produces'):
        unknown = set(getattr(spec, what)) - set(ARTIFACTS)
        if unknown:
            raise ConfigCheckError(
                f'phase kind {name!r}: {what} has unknown artifacts '
                f'{sorted(unknown)}; known: {ARTIFACTS}')
    if spec.default_init not in INIT_POLICIES:
        raise ConfigCheckError(
            f'phase kind {name!r}: default_init must be one of '
            f'{INIT_POLICIES}, got {spec.default_init!r}')


def set_model_phase(model, name: str) -> PhaseKind:
    """Set a BDL model to a registered phase kind (what the loop does
    before each phase; tools that run one kind's step call it too).

    Args:
        model (BDL): The unwrapped BDL model.
        name (str): A registered phase kind.

    Returns:
        PhaseKind: The kind's spec.
    """
    spec = phase_kind(name)
    spec.apply_to(model)
    return spec


def registered_kinds() -> Tuple[str, ...]:
    """tuple[str]: Names of every registered phase kind."""
    PHASE_KINDS.import_from_location()
    return tuple(sorted(PHASE_KINDS.module_dict))


def kind_keys() -> Tuple[str, ...]:
    """tuple[str]: Keys a per-kind ``train_cfg`` dict may use: the kinds'
    names and their fallback keys."""
    keys = set(registered_kinds())
    for name in registered_kinds():
        keys.update(phase_kind(name).fallback)
    return tuple(sorted(keys))


# Algorithm 1's kinds, in the paper's order within a round
PAPER_KINDS = ('source_only', 'translation', 'adaptation', 'self_training')


def paper_plan(source_only: bool, num_ssl_rounds: int) -> Dict[str, list]:
    """The paper's plan: ``[M(0)]``, then per round F(k), M_0(k) and N
    self-training phases M_i(k).

    Args:
        source_only (bool): ``train_cfg.source_only``.
        num_ssl_rounds (int): ``train_cfg.num_ssl_rounds`` (N).

    Returns:
        dict: ``first`` and ``round`` phase lists (``train_cfg.plan``).
    """
    first = ['source_only'] if source_only else []
    each = ['translation', 'adaptation',
            dict(kind='self_training', repeat=num_ssl_rounds)]
    return dict(first=first, round=each)
