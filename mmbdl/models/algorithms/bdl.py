"""BDL: the segmentation model M and the translation model F in one model."""
import copy
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper, OptimWrapperDict
from torch import Tensor

from mmbdl.registry import MODELS
from mmbdl.utils.errors import ConfigCheckError
from mmbdl.utils.typing_utils import ConfigType, OptConfigType, OptMultiConfig
from ..translators.base_translator import build_translator

FOLLOW_KEY = 'follow_segmentor'
# the sub-models a phase can train (BDL.set_phase's ``trains``)
TRAINED_PARTS = ('segmentor', 'translator')


def _merge(base: dict, overrides: dict) -> dict:
    """``base`` updated recursively with ``overrides`` (MMEngine's
    ``_delete_=True`` replaces a dict instead of merging into it)."""
    out = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        if isinstance(value, dict) and not value.get('_delete_', False) \
                and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        elif isinstance(value, dict):
            out[key] = {k: v for k, v in copy.deepcopy(dict(value)).items()
                        if k != '_delete_'}
        else:
            out[key] = copy.deepcopy(value)
    return out


def follow_segmentor(translator: dict, segmentor: dict) -> dict:
    """A copy of ``translator`` whose perceptual model is M's.

    When ``translator['perceptual_model']`` is a dict with
    ``follow_segmentor=True``, it is replaced by M's inference segmentor
    config (``segmentor['segmentor']``, or ``segmentor`` itself when it has
    no inner segmentor) with the dict's other keys merged in, e.g.
    ``dict(follow_segmentor=True,
    decode_head=dict(num_effective_branches=2))``.
    Any other value is kept as it is.

    Args:
        translator (dict): Translator config.
        segmentor (dict): M's config (``AdvSelfTrainingSegmentor``).

    Returns:
        dict: The translator config to build.
    """
    translator = copy.deepcopy(dict(translator))
    per = translator.get('perceptual_model')
    if not isinstance(per, dict) or not per.get(FOLLOW_KEY, False):
        return translator
    inner = segmentor.get('segmentor', segmentor)
    if not isinstance(inner, dict) or 'type' not in inner:
        raise ConfigCheckError(
            'translator.perceptual_model has follow_segmentor=True, but the '
            'BDL segmentor config has no inference segmentor config '
            '(`segmentor.segmentor` with a `type`) to follow')
    overrides = {k: v for k, v in per.items() if k != FOLLOW_KEY}
    translator['perceptual_model'] = _merge(inner, overrides)
    return translator


@MODELS.register_module()
class BDL(BaseModel):
    """Bidirectional learning: a segmentor M and a translator F.

    The model owns both halves of Algorithm 1 of the paper; the
    :class:`~mmbdl.engine.runner.BidirectionalTrainLoop` switches
    :attr:`phase` between them::

        BDL
        |- segmentor   AdvSelfTrainingSegmentor (M: Eq. 1 / Eq. 3, + D)
        |   `- segmentor   a plain MMSegmentation segmentor (inference)
        `- translator  PerceptualCycleGAN (F: Eq. 2)
            `- perceptual_model   frozen copy of M's inference segmentor

    The loop tells the model what a phase trains (:meth:`set_phase`: the
    phase kind's name, the sub-model it trains, the loss terms of M and the
    segmentor's ``adversarial`` switch); the model knows nothing of the
    loop or its registry of phase kinds. :meth:`train_step` hands the batch
    and the optimizer wrappers to the trained sub-model, which runs its own
    data preprocessor:

    - the translator: ``translator.train_step`` (unpaired
      ``img_source``/``img_target`` batches, ``OptimWrapperDict`` with keys
      ``'generators'``/``'discriminators'``);
    - the segmentor: ``segmentor.train_step`` on the sum of the phase's
      loss terms (UDA branch batches, keys ``'segmentor'`` and those the
      terms own, e.g. ``'discriminator'``). A segmentor without loss terms
      (no ``adversarial`` switch) trained on source CE alone (M(0)) gets
      :meth:`source_only_step`: cross-entropy on the source branch, only
      the ``'segmentor'`` optimizer steps.

    An online translator (``translator.online``: FDA as its release
    trains) translates the source images of every segmentor batch first
    (:meth:`translate_online`); the engine is not involved.

    ``val_step``/``test_step``/``forward`` always use the segmentor, so
    ``tools/test.py`` evaluates any checkpoint of a BDL run as M.

    Args:
        segmentor (dict): Config of the adaptation segmentor
            (``AdvSelfTrainingSegmentor``).
        translator (dict, optional): Config of the translator
            (``PerceptualCycleGAN``). Its ``perceptual_model`` may be
            ``dict(follow_segmentor=True, **overrides)``: the perceptual
            model is then built from M's inference segmentor config (
            ``segmentor.segmentor``) with ``overrides`` merged in, so a
            backbone swapped in M is swapped in F's perceptual loss too.
            Defaults to None (no translation phase possible).
        data_preprocessor (dict, optional): Pre-processor of the BDL model
            itself. The sub-models use their own; this one only moves data to
            the device. Defaults to None (``BaseDataPreprocessor``).
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 segmentor: ConfigType,
                 translator: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if segmentor is None:
            raise ConfigCheckError('BDL needs a `segmentor` config (an '
                                   'AdvSelfTrainingSegmentor); got None')
        self.segmentor = MODELS.build(copy.deepcopy(segmentor))
        if translator is not None:
            translator = follow_segmentor(translator, segmentor)
        # refused here when it does not implement the translator contract
        self.translator = (build_translator(translator)
                           if translator is not None else None)
        # the segmentor's own adversarial switch (AdvSelfTrainingSegmentor),
        # set by the phases that declare one (source-only: off), its own
        # value otherwise
        self._adversarial = getattr(self.segmentor, 'adversarial', None)
        self._phase: Optional[str] = None
        self._trains = 'segmentor'
        self._loss_terms: Tuple[str, ...] = ()

    # ------------------------------------------------------------------
    @property
    def phase(self) -> Optional[str]:
        """str | None: The phase that ``train_step`` serves (set by the
        loop through :meth:`set_phase`; None before)."""
        return self._phase

    def set_phase(self,
                  name: str,
                  trains: str = 'segmentor',
                  loss_terms: Sequence = (),
                  adversarial: Optional[bool] = None) -> None:
        """Say what the following training steps train.

        The loop calls this with what its phase kind declares; nothing
        here depends on the kinds that exist.

        Args:
            name (str): The phase's kind, passed on to the segmentor (a
                segmentor's ``loss_terms`` entry under this name replaces
                the terms).
            trains (str): 'segmentor' or 'translator'. Defaults to
                'segmentor'.
            loss_terms (sequence): The loss terms (roles) M sums in the
                phase, e.g. ``('source_ce', 'adversarial')``. Defaults to
                ().
            adversarial (bool, optional): The segmentor's ``adversarial``
                switch during the phase; None restores its own setting.

        Raises:
            ConfigCheckError: If ``trains`` names no sub-model of BDL or one
                this model was built without.
        """
        if trains not in TRAINED_PARTS:
            raise ConfigCheckError(
                f'BDL.set_phase({name!r}): trains must be one of '
                f'{TRAINED_PARTS}, got {trains!r}')
        if getattr(self, trains) is None:
            raise ConfigCheckError(
                f'the {name!r} phase trains a {trains}, but the BDL model '
                f'has none; set `{trains}=dict(type=...)` in the BDL model '
                'config')
        self._phase = name
        self._trains = trains
        self._loss_terms = tuple(loss_terms)
        if self._adversarial is not None:
            self.segmentor.adversarial = (
                self._adversarial if adversarial is None else adversarial)
        if hasattr(self.segmentor, 'set_phase'):
            self.segmentor.set_phase(name, self._loss_terms)

    @property
    def active_model(self) -> BaseModel:
        """BaseModel: The sub-model trained in the current phase."""
        return getattr(self, self._trains)

    @property
    def inference_segmentor(self) -> BaseModel:
        """BaseModel: The plain MMSegmentation segmentor inside M."""
        from mmbdl.utils import get_inference_segmentor
        return get_inference_segmentor(self.segmentor)

    def init_weights(self) -> None:
        """Initialise both sub-models (each with its own ``init_cfg``)."""
        super().init_weights()

    # ------------------------------------------------------------------
    def load_perceptual_weights(self) -> None:
        """Copy the inference segmentor's weights into the translator's M.

        Algorithm 1 trains F(k) with the perceptual loss of the latest
        segmentation model; the loop calls this before every translation
        phase. The copy is detached: later segmentor updates leave the
        translator's perceptual model unchanged.

        Raises:
            RuntimeError: If there is no translator or it has no perceptual
                model.
        """
        if self.translator is None or getattr(
                self.translator, 'perceptual_model', None) is None:
            raise RuntimeError(
                'BDL.load_perceptual_weights: the translator has no '
                'perceptual_model; set translator.perceptual_model to the '
                'segmentor config (or remove the call)')
        state = {
            key: value.detach().clone()
            for key, value in self.inference_segmentor.state_dict().items()
        }
        self.translator.load_perceptual_weights(
            state, source='the current BDL segmentor')

    # ------------------------------------------------------------------
    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: OptimWrapper) -> Dict[str, Tensor]:
        """One training step of the sub-model of the current phase.

        Args:
            data (dict | tuple | list): A batch from the phase's dataloader.
            optim_wrapper (OptimWrapper): The phase's optimizer wrappers
                (usually an ``OptimWrapperDict``).

        Returns:
            dict[str, Tensor]: Log variables of the sub-model.
        """
        if self._phase is None:
            raise RuntimeError(
                'BDL.train_step: no phase is set; the BDL model is trained '
                "by train_cfg=dict(type='BidirectionalTrainLoop', ...), "
                'which sets each phase (BDL.set_phase)')
        if self._trains == 'segmentor':
            data = self.translate_online(data)
        if (self._trains == 'segmentor' and self._adversarial is None
                and self.source_only_terms):
            return self.source_only_step(data, optim_wrapper)
        return self.active_model.train_step(data, optim_wrapper)

    @property
    def source_only_terms(self) -> bool:
        """bool: Whether the phase's loss terms are the source
        cross-entropy alone (M(0): no target image is seen)."""
        return self._loss_terms == ('source_ce', )

    def translate_online(self, data: Union[dict, tuple, list]
                         ) -> Union[dict, tuple, list]:
        """The batch with its source images translated by an online
        translator (``translator.online``, e.g. FDA), else unchanged.

        The translation applies in segmentor phases that train on target
        data, i.e. whose loss terms are more than ``('source_ce', )``: a
        source-only phase (M(0)) sees no target image, as in the offline
        mode, where S' is written after it. Everything after this point
        (the data preprocessor, the loss terms, the EMA teacher, class
        mixing, masked consistency) sees the translated source images as
        the batch's source images.

        Args:
            data (dict | tuple | list): A raw batch of the phase.

        Returns:
            dict | tuple | list: ``translator.translate_batch(data)``, or
            ``data`` itself.
        """
        if self.translator is None or not getattr(
                self.translator, 'online', False) or self.source_only_terms:
            return data
        return self.translator.translate_batch(data)

    def source_only_step(self, data: dict,
                         optim_wrapper: OptimWrapper) -> Dict[str, Tensor]:
        """Cross-entropy on the source branch only (M(0)).

        Args:
            data (dict): A UDA branch batch (the target branch is ignored) or
                a plain segmentation batch.
            optim_wrapper (OptimWrapper): An ``OptimWrapperDict`` with a
                ``'segmentor'`` key, or a single wrapper for the segmentor.

        Returns:
            dict[str, Tensor]: Log variables with ``src.``-prefixed losses.
        """
        seg_wrapper = optim_wrapper
        if isinstance(optim_wrapper, OptimWrapperDict):
            if 'segmentor' not in optim_wrapper.optim_wrappers:
                raise KeyError(
                    f'the {self._phase} phase needs an optimizer keyed '
                    f"'segmentor', got {list(optim_wrapper.keys())}; fix "
                    f'the optim_wrapper entry of that phase')
            seg_wrapper = optim_wrapper['segmentor']
        uda = self.segmentor
        seg = self.inference_segmentor
        with seg_wrapper.optim_context(seg):
            batch = uda.data_preprocessor(data, True)
            inputs, samples = batch['inputs'], batch['data_samples']
            if isinstance(inputs, dict):
                inputs, samples = inputs['source'], samples['source']
            losses = seg.loss(inputs, samples)
            losses = {f'src.{k}': v for k, v in losses.items()}
            loss, log_vars = seg.parse_losses(losses)
        seg_wrapper.update_params(loss)
        return log_vars

    def val_step(self, data: Union[dict, tuple, list]) -> list:
        """Validation step of the segmentor.

        Args:
            data (dict | tuple | list): A validation batch.

        Returns:
            list: Predictions (``SegDataSample``).
        """
        return self.segmentor.val_step(data)

    def test_step(self, data: Union[dict, tuple, list]) -> list:
        """Test step of the segmentor.

        Args:
            data (dict | tuple | list): A test batch.

        Returns:
            list: Predictions (``SegDataSample``).
        """
        return self.segmentor.test_step(data)

    def forward(self,
                inputs: Union[Tensor, Dict[str, Tensor]],
                data_samples: Optional[List] = None,
                mode: str = 'tensor'):
        """Forward of the segmentor M (inference and losses of M).

        Args:
            inputs (Tensor | dict): Pre-processed inputs of the segmentor.
            data_samples (list, optional): Data samples. Defaults to None.
            mode (str): 'tensor', 'predict' or 'loss'. Defaults to 'tensor'.

        Returns:
            The segmentor's output for ``mode``.
        """
        return self.segmentor(inputs, data_samples, mode=mode)

    def predict(self, inputs: Tensor, data_samples: Optional[List] = None):
        """Predict with the segmentor.

        Args:
            inputs (Tensor): Pre-processed images.
            data_samples (list, optional): Data samples. Defaults to None.

        Returns:
            list: ``SegDataSample`` predictions.
        """
        return self.segmentor(inputs, data_samples, mode='predict')

    @torch.no_grad()
    def state_dict_of(self, prefix: str) -> Dict[str, Tensor]:
        """Weights of one sub-module as CPU copies.

        Args:
            prefix (str): 'segmentor' or 'translator'.

        Returns:
            dict[str, Tensor]: Keys relative to the sub-module.
        """
        module = getattr(self, prefix)
        return {
            k: v.detach().cpu().clone()
            for k, v in module.state_dict().items()
        }
