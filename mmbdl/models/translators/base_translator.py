"""The translator contract: what the BDL loop, hooks and tools use of F.

Every translator of a BDL model (``model.translator``) implements
:class:`BaseTranslator`. The engine (loop, resume state, hooks, the folder
translation of ``tools/translate.py``) reads a translator only through these
members, never through an MMagic internal or a private field, so another
translator plugs in by implementing them (see ``docs/translators.md``).
:func:`build_translator` refuses, when the model is built, a translator that
leaves any of them out.
"""
import copy
from typing import Dict, List, Mapping, Optional, Tuple

from torch import Tensor

from mmbdl.registry import MODELS
from mmbdl.utils.errors import ConfigCheckError
from .utils import ImageNormalization


class BaseTranslator:
    """The contract of BDL's translation model F (a mixin of a ``BaseModel``).

    Images enter and leave :meth:`translate` in the translator's own input
    space, described by :attr:`input_normalization`
    (``input = (pixel[channel_order] - mean) / std``), so the engine can
    convert uint8 images both ways without knowing the model.

    Members a translator must define (the others have defaults):

    - :attr:`domains`: the domains it maps between, e.g.
      ``('source', 'target')``;
    - :meth:`translate`: a batch into a named domain;
    - :meth:`train_step`: one training step (MMEngine's signature);
    - :attr:`input_normalization`;
    - :meth:`direction_state`: the weights that define one direction
      (their hash names a translated folder, so a rerun with other weights
      is not mistaken for a finished one).

    Defaults a translator overrides when they apply:

    - :attr:`trains` (True): False for a translator without training; the
      loop then plans no translation phase for it;
    - :meth:`load_perceptual_weights`: receives M's weights before each
      translation phase (a no-op without a perceptual model);
      :attr:`has_perceptual_model` says whether it takes them;
    - :meth:`resume_state` / :meth:`load_resume_state` /
      :meth:`reset_resume_state`: state outside the weights that a resumed
      run must restore (CycleGAN's image pools), as CPU tensors in plain
      containers;
    - :attr:`size_divisor` (1): inputs are padded to a multiple of it
      before :meth:`translate` and the output cropped back;
    - :attr:`online` (False) / :meth:`translate_batch`: a translator that
      translates the source images of every training batch itself (FDA, as
      its release trains) sets ``online`` and defines
      :meth:`translate_batch`; ``BDL.train_step`` then calls it in the
      segmentor phases that train on target data, and no
      ``SourceTranslationHook`` writes S'.
    """

    #: Whether the translator has a training phase.
    trains: bool = True
    #: Inputs of :meth:`translate` are padded to a multiple of this.
    size_divisor: int = 1
    #: Whether :meth:`translate_batch` translates every training batch.
    online: bool = False

    @property
    def domains(self) -> Tuple[str, ...]:
        """tuple[str]: The domains the translator maps between."""
        raise NotImplementedError

    def opposite_domain(self, domain: str) -> str:
        """The other domain of a two-domain translator.

        Args:
            domain (str): One of :attr:`domains`.

        Returns:
            str: The other one.
        """
        others = [d for d in self.domains if d != domain]
        if domain not in self.domains or len(others) != 1:
            raise ValueError(f'{domain!r} has no single opposite domain '
                             f'among {self.domains}')
        return others[0]

    def translate(self, img: Tensor, target_domain: str) -> Tensor:
        """Translate a batch into ``target_domain``.

        Args:
            img (Tensor): ``(N, C, H, W)`` images in the input space
                (:attr:`input_normalization`) of the other domain.
            target_domain (str): One of :attr:`domains`.

        Returns:
            Tensor: ``(N, C, H, W)`` images of ``target_domain``, same space.
        """
        raise NotImplementedError

    def train_step(self, data: dict, optim_wrapper) -> Dict[str, Tensor]:
        """One training step (updates the weights, returns log variables).
        """
        raise NotImplementedError

    @property
    def input_normalization(self) -> ImageNormalization:
        """ImageNormalization: How :meth:`translate`'s tensors relate to
        0..255 pixels."""
        raise NotImplementedError

    def direction_state(self, target_domain: str) -> Dict[str, Tensor]:
        """The tensors that define the translation into ``target_domain``.
        """
        raise NotImplementedError

    @property
    def has_perceptual_model(self) -> bool:
        """bool: Whether :meth:`load_perceptual_weights` takes M's weights.
        """
        return False

    def load_perceptual_weights(self, state_dict: Mapping[str, Tensor],
                                source: str = 'the given state dict'
                                ) -> None:
        """Receive the segmentor M's weights (no-op without a perceptual
        model)."""

    def resume_state(self) -> Optional[dict]:
        """State beyond the weights that a resumed run restores (None:
        nothing)."""
        return None

    def load_resume_state(self, state: Optional[dict]) -> None:
        """Restore what :meth:`resume_state` returned."""

    def reset_resume_state(self) -> None:
        """Forget that state (a translator restarted from its initial
        weights)."""

    def translate_batch(self, data: dict) -> dict:
        """Translate the source branch of a raw UDA batch (online mode).

        Args:
            data (dict): A batch of ``UDADataset`` before the data
                preprocessor: ``{'inputs': {'source': [Tensor],
                'target': [Tensor]}, 'data_samples': {...}}`` with uint8
                ``(C, H, W)`` images.

        Returns:
            dict: The batch with the source images replaced by their
            translations (same layout, float tensors of 0..255 pixels).
        """
        raise NotImplementedError(
            f'{type(self).__name__} has online=True but no '
            'translate_batch; define it or set online=False')

    def check_inputs(self) -> None:
        """Refuse missing or empty inputs of the translator's own (files
        it reads besides the loop's data sets) before the first phase; the
        loop calls it when it starts. Nothing to check by default."""


#: Members :func:`missing_contract_members` checks.
REQUIRED = ('domains', 'translate', 'train_step', 'input_normalization',
            'direction_state')
OPTIONAL = ('trains', 'size_divisor', 'opposite_domain',
            'has_perceptual_model', 'load_perceptual_weights',
            'resume_state', 'load_resume_state', 'reset_resume_state',
            'check_inputs', 'online', 'translate_batch')


def missing_contract_members(translator) -> List[str]:
    """The members of :class:`BaseTranslator` a translator lacks.

    A class that does not derive from :class:`BaseTranslator` must define
    every member; one that does must override the required ones.

    Args:
        translator: A built translator.

    Returns:
        list[str]: The missing members, in the contract's order.
    """
    cls = type(translator)
    if isinstance(translator, BaseTranslator):
        return [name for name in REQUIRED
                if getattr(cls, name) is getattr(BaseTranslator, name)]
    return [name for name in REQUIRED + OPTIONAL
            if not hasattr(cls, name)]


def check_translator(translator) -> None:
    """Refuse a translator that does not implement the contract.

    Raises:
        ConfigCheckError: Naming the missing members.
    """
    missing = missing_contract_members(translator)
    if missing:
        raise ConfigCheckError(
            f'translator {type(translator).__name__} does not implement the '
            'translator contract (mmbdl.models.translators.BaseTranslator): '
            f'missing {", ".join(missing)}; derive it from BaseTranslator '
            'and define them (docs/translators.md)')


def build_translator(cfg: dict):
    """Build a translator from its config and check the contract.

    Args:
        cfg (dict): Translator config.

    Returns:
        The translator.
    """
    translator = MODELS.build(copy.deepcopy(cfg))
    check_translator(translator)
    return translator
