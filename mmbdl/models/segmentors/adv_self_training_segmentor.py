"""Segmentation model M of BDL: Eq. 1 (adversarial) and Eq. 3 (self-training).
"""
import copy
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmseg.models.utils import resize
from torch import Tensor

from mmbdl.registry import MODELS
from mmbdl.utils.errors import ConfigCheckError
from mmbdl.utils.head_align_corners import head_align_corners
from mmbdl.utils.typing_utils import ConfigType, OptConfigType, OptMultiConfig
from ..uda_terms import Adversarial, UDALossTerm, UDAStep, build_loss_term
from .finite_loss_check import FiniteLossCheck

# the roles a phase kind lists in ``PhaseKind.terms`` (and a ``loss_terms``
# list may name instead of a term config)
ROLES = ('source_ce', 'adversarial', 'pseudo_labels')
# the ``loss_terms`` key of a segmentor trained outside the BDL loop
STANDALONE = 'standalone'
DEFAULT_UDA_CFG = dict(
    adversarial=True,
    lambda_adv=1e-3,
    source_label=0.0,
    target_label=1.0,
    disc_loss_weight=0.5,
    use_pseudo_labels=True,
    pseudo_loss_weight=1.0,
    ignore_index=255,
    check_finite=True,
    check_finite_interval=None,
)


def check_unread_labels(terms: Sequence[UDALossTerm],
                        data: Optional[dict]) -> None:
    """Refuse a standalone batch whose target labels no term reads."""
    samples = data.get('data_samples') if isinstance(data, dict) else None
    tgt = samples.get('target') if isinstance(samples, dict) else None
    if not tgt or not all('gt_sem_seg' in s for s in tgt):
        return
    if any('target_labels' in term.reads for term in terms):
        return
    raise ConfigCheckError(
        'the target samples carry labels (the dataset\'s pseudo_label_dir) '
        'but no loss term reads them; add the pseudo-label term: '
        "model.loss_terms=dict(standalone=['source_ce', 'adversarial', "
        "'pseudo_labels']), or remove pseudo_label_dir")


@MODELS.register_module()
class AdvSelfTrainingSegmentor(BaseModel):
    """Output-space adversarial and self-training segmentor (BDL's M).

    Wraps a plain MMSegmentation segmentor (any ``EncoderDecoder``: backbone
    and head are swapped by config) and an output-space discriminator D,
    and trains them on UDA batches (``{'inputs': {'source', 'target'},
    'data_samples': {'source', 'target'}}``). The loss of M is the sum of
    the phase's loss terms (``LOSS_TERMS``, :mod:`mmbdl.models.uda_terms`,
    contract in ``docs/loss_terms.md``)::

        train_step(data, optim_wrapper)   # 'segmentor' + the terms' keys
        |- data_preprocessor(data, True)  # one pre-processor per branch
        |- step = UDAStep(model, inputs, samples)
        |- term.check_batch(step), term.prepare(step)   # each term, in order
        |- M's step, D frozen: sum of term.loss(step)   # one backward
        `- term.extra_step(step, wrappers)              # D's step

    The paper's terms: ``source_ce`` (``src.*``), ``adversarial``
    (``tgt.loss_adv = lambda_adv * BCE(D(softmax(up(M(T)))), source)``,
    then D's step: ``disc.loss_src``, ``disc.loss_tgt``) and
    ``pseudo_label_ce`` (``pseudo.loss_ce``, Eq. 3). ``up`` resizes the
    logits bilinearly to the branch's input size (with the decode head's
    ``align_corners``), so D sees full-resolution probabilities, as in the
    release. ``val_step``, ``test_step`` and ``forward`` use the wrapped
    segmentor alone (its own pre-processor), so ``tools/test.py``
    evaluates a checkpoint of this model as M.

    Which terms a step sums is config data: the BDL model passes each
    phase kind's ``terms`` (:meth:`set_phase`: roles 'source_ce',
    'adversarial', 'pseudo_labels'), which :meth:`role_terms` maps to this
    model's terms (the adversarial role only while :attr:`adversarial` is
    on); a ``loss_terms`` entry under the kind's name replaces the roles.
    A term missing its input refuses the batch, naming itself and the
    config key (e.g. the pseudo-label term without ``pseudo_label_dir``).

    The pseudo-label term is ``pseudo_loss_weight * sum_p w_p CE_p / #{p:
    y_p != 255}`` with ``w_p`` from ``gt_seg_weight`` (1 without it): the
    usual mean over labelled pixels when there are no soft weights.

    Args:
        segmentor (dict): Config of the MMSegmentation segmentor.
        discriminator (dict, optional): Config of D (``FCDiscriminator``);
            its ``num_classes`` defaults to the segmentor's. Required when
            ``uda_cfg.adversarial`` is True. Defaults to None.
        data_preprocessor (dict, optional): The UDA pre-processor (e.g.
            ``UDADataPreProcessor`` with ``source``/``target`` configs).
            Defaults to ``UDADataPreProcessor`` built from the segmentor's
            own ``data_preprocessor`` for both branches.
        uda_cfg (dict, optional): Knobs, merged into the defaults:
            ``adversarial`` (True), ``lambda_adv`` (1e-3), ``source_label``
            (0.0), ``target_label`` (1.0), ``disc_loss_weight`` (0.5),
            ``use_pseudo_labels`` (True), ``pseudo_loss_weight`` (1.0),
            ``ignore_index`` (255), ``check_finite`` (True: a NaN/inf loss
            stops training with the iteration and the loss name),
            ``check_finite_interval`` (None: on the CPU every step is
            checked before its update; on an accelerator the losses are
            read every 50 steps and at validation, so that no step waits
            for the device; 1 checks every step there too; see
            :class:`FiniteLossCheck`).
        loss_terms (dict, optional): Phase kind -> list of terms, each a
            term config (``dict(type='MaskedConsistency', ...)``) or a role
            name ('source_ce', 'adversarial', 'pseudo_labels': this model's
            term for the role). Kinds not listed use their own ``terms``;
            the key 'standalone' lists the terms outside the BDL loop
            (default source CE + adversarial; the ``adv-ssl`` configs add
            'pseudo_labels'). Defaults to None.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 segmentor: ConfigType,
                 discriminator: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 uda_cfg: OptConfigType = None,
                 loss_terms: Optional[dict] = None,
                 init_cfg: OptMultiConfig = None) -> None:
        segmentor = copy.deepcopy(segmentor)
        if data_preprocessor is None:
            seg_pre = segmentor.get('data_preprocessor')
            data_preprocessor = dict(
                type='UDADataPreProcessor', source=seg_pre,
                target=seg_pre) if seg_pre is not None else None
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.uda_cfg = self._merge_uda_cfg(uda_cfg)
        self._finite_check = FiniteLossCheck(
            self.uda_cfg['check_finite_interval'])
        self.segmentor = MODELS.build(segmentor)
        head = getattr(self.segmentor, 'decode_head', None)
        if head is None or not hasattr(head, 'loss_by_feat'):
            raise TypeError(
                'AdvSelfTrainingSegmentor wraps an EncoderDecoder-like '
                'segmentor with one decode head; got '
                f'{type(self.segmentor).__name__}')
        self.num_classes = head.out_channels
        self.discriminator = None
        if discriminator is not None:
            discriminator = copy.deepcopy(discriminator)
            d_classes = discriminator.setdefault('num_classes',
                                                 self.num_classes)
            if d_classes != self.num_classes:
                raise ConfigCheckError(
                    f'discriminator.num_classes={d_classes} but the '
                    f'segmentor predicts {self.num_classes} classes; D '
                    'reads the class probabilities, so set them equal')
            self.discriminator = MODELS.build(discriminator)
        if self.uda_cfg['adversarial'] and self.discriminator is None:
            raise ConfigCheckError(
                'uda_cfg.adversarial=True needs a discriminator config, e.g. '
                "discriminator=dict(type='FCDiscriminator')")
        self.phase_kind: Optional[str] = None
        self.phase_roles: Optional[Tuple[str, ...]] = None
        self.loss_terms = self.build_loss_terms(loss_terms)

    def build_loss_terms(
            self, loss_terms: Optional[dict]) -> Dict[str, List[UDALossTerm]]:
        """Build and check the ``loss_terms`` config (phase kind -> list of
        term configs)."""
        built = {}
        for kind, cfgs in (loss_terms or {}).items():
            built[kind] = [
                c if isinstance(c, str) and c in ROLES else
                build_loss_term(c) for c in cfgs
            ]
            for term in built[kind]:
                if not isinstance(term, str):
                    term.check(self)
        return built

    # ------------------------------------------------------------------
    @staticmethod
    def _merge_uda_cfg(uda_cfg: Optional[dict]) -> dict:
        cfg = dict(DEFAULT_UDA_CFG)
        unknown = sorted(set(uda_cfg or {}) - set(cfg))
        if unknown:
            raise KeyError(f'unknown uda_cfg keys {unknown}; valid keys: '
                           f'{sorted(cfg)}')
        cfg.update(uda_cfg or {})
        return cfg

    @property
    def adversarial(self) -> bool:
        """bool: Whether the adversarial term and the D step are active."""
        return bool(self.uda_cfg['adversarial'])

    @adversarial.setter
    def adversarial(self, value: bool) -> None:
        if value and self.discriminator is None:
            raise ConfigCheckError(
                'cannot enable the adversarial loss: the model '
                'was built without a discriminator')
        self.uda_cfg['adversarial'] = bool(value)

    @property
    def align_corners(self) -> bool:
        """bool: ``align_corners`` used to resize logits (the head's; a head
        without it is an error naming the config key, never a guess)."""
        return head_align_corners(self.segmentor)

    # ------------------------------------------------------------------
    def set_phase(self, kind: Optional[str],
                  roles: Optional[Sequence[str]]) -> None:
        """Select the loss terms of a phase (the BDL model calls this).

        Args:
            kind (str, optional): The phase kind; a ``loss_terms`` entry
                under this name is used as it is.
            roles (sequence[str], optional): The kind's terms
                (``PhaseKind.terms``): 'source_ce', 'adversarial' (dropped
                while :attr:`adversarial` is off) and 'pseudo_labels' (the
                pseudo-label term of this model, :meth:`role_terms`).
                None: standalone training (see :meth:`active_terms`).
        """
        self.phase_kind = kind
        self.phase_roles = None if roles is None else tuple(roles)

    def role_terms(self, role: str) -> List[str]:
        """The names of the terms that play ``role`` in this model."""
        if role == 'adversarial':
            return ['adversarial'] if self.adversarial else []
        if role == 'pseudo_labels':
            return ['pseudo_label_ce'] \
                if self.uda_cfg['use_pseudo_labels'] else []
        return [role]

    def _named_term(self, name: str) -> UDALossTerm:
        """A term built from ``uda_cfg`` (the knobs of the default terms).
        """
        cfg = self.uda_cfg
        if name == 'adversarial':
            return Adversarial(cfg['lambda_adv'], cfg['source_label'],
                               cfg['target_label'], cfg['disc_loss_weight'])
        if name in ('pseudo_label_ce', 'teacher_pseudo_label', 'class_mix'):
            return build_loss_term(
                dict(type=name, loss_weight=cfg['pseudo_loss_weight']))
        return build_loss_term(dict(type=name))

    def active_terms(self, data: Optional[dict] = None) -> List[UDALossTerm]:
        """The terms of the current phase, in the order they run.

        A ``loss_terms`` entry for :attr:`phase_kind` replaces the phase's
        roles; the roles (names in :data:`ROLES`) are mapped to this
        model's terms (:meth:`role_terms`, knobs from ``uda_cfg``).
        Standalone (no phase set, e.g. ``IterBasedTrainLoop`` on an
        ``adv`` or ``adv-ssl`` config) the roles are
        ``loss_terms.standalone``, by default source CE and the
        adversarial term (and the pseudo-label term while an EMA teacher
        labels online). Nothing is inferred from the batch: a standalone
        batch whose target samples carry labels (the dataset's
        ``pseudo_label_dir``) while no term reads them is refused, naming
        ``loss_terms.standalone``.
        """
        roles = self.phase_roles
        kind = STANDALONE if self.phase_kind is None else self.phase_kind
        if kind in self.loss_terms:
            roles = self.loss_terms[kind]
        if roles is None:
            roles = ('source_ce', 'adversarial')
            if getattr(self, 'online_self_training', False):
                roles += ('pseudo_labels', )
        terms = []
        for role in roles:
            if not isinstance(role, str):  # a built term of loss_terms
                terms.append(role)
                continue
            for name in self.role_terms(role):
                term = self._named_term(name)
                term.check(self)
                terms.append(term)
        if self.phase_kind is None:
            check_unread_labels(terms, data)
        return terms

    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: OptimWrapperDict) -> Dict[str, Tensor]:
        """One step of M on the sum of the active terms, then the terms'
        own optimizer steps (D's).

        Args:
            data (dict): A UDA batch (before pre-processing).
            optim_wrapper (OptimWrapperDict): Wrappers keyed 'segmentor' and
                those the terms own (the adversarial term: 'discriminator').
                A single ``OptimWrapper`` is accepted as the segmentor's
                when no term owns a step.

        Returns:
            dict[str, Tensor]: Log variables (prefixed loss keys).
        """
        terms = self.active_terms(data)
        wrappers = self._get_wrappers(optim_wrapper, terms)
        # class ids are checked on the loaded labels, before they move to
        # the device (no host sync there)
        for branch, raw in self._raw_labelled_samples(data, terms):
            self._check_label_values(raw, branch)
        data = self.data_preprocessor(data, True)
        step = UDAStep(self, *self._split_branches(data))
        self.check_label_shapes(step.source_samples, 'source')
        for term in terms:
            term.check_batch(step)
        for term in terms:
            term.prepare(step)

        # ---- M's step, D frozen ----------------------------------------
        if self.discriminator is not None:
            self.discriminator.requires_grad_(False)
        try:
            with wrappers['segmentor'].optim_context(self.segmentor):
                losses = {}
                for term in terms:
                    losses.update(term.loss(step))
                loss, log_vars = self.parse_losses(losses)
        finally:
            if self.discriminator is not None:
                self.discriminator.requires_grad_(True)
        self.check_finite(losses)
        wrappers['segmentor'].update_params(loss)

        # ---- the terms' own steps (D's, on detached outputs) -----------
        for term in terms:
            log_vars.update(term.extra_step(step, wrappers) or {})
        log_vars.update(step.log_vars)
        return log_vars

    # ------------------------------------------------------------------
    def _get_wrappers(self, optim_wrapper: Union[OptimWrapper,
                                                 OptimWrapperDict],
                      terms: Sequence[UDALossTerm]) -> dict:
        owned = [k for t in terms for k in t.optim_keys]
        if isinstance(optim_wrapper, OptimWrapperDict):
            keys = list(optim_wrapper.keys())
            if 'segmentor' not in keys:
                raise KeyError(
                    "AdvSelfTrainingSegmentor needs an optim wrapper keyed "
                    f"'segmentor', got {keys}; write optim_wrapper = "
                    "dict(constructor='MultiSubmoduleOptimWrapperConstructor'"
                    ', segmentor=dict(...), discriminator=dict(...))')
            for term in terms:
                for key in term.optim_keys:
                    if key not in keys:
                        raise KeyError(
                            f'loss term {term.name!r} steps an optim wrapper '
                            f'keyed {key!r}, got {keys}')
            return {k: optim_wrapper[k] for k in ['segmentor'] + owned}
        if owned:
            raise TypeError(
                f'the loss terms {[t.name for t in terms]} need an '
                f'OptimWrapperDict with keys {["segmentor"] + owned}; got a '
                f'single {type(optim_wrapper).__name__}')
        return {'segmentor': optim_wrapper}

    @staticmethod
    def _split_branches(data: dict) -> Tuple[dict, dict]:
        inputs, samples = data.get('inputs'), data.get('data_samples')
        if not isinstance(inputs, dict) or 'source' not in inputs:
            raise TypeError(
                'AdvSelfTrainingSegmentor.train_step expects a UDA batch '
                "{'inputs': {'source': ..., 'target': ...}, 'data_samples': "
                "{...}} (UDADataset + UDADataPreProcessor); got inputs of "
                f'type {type(inputs).__name__}')
        return inputs, samples or {}

    def _raw_labelled_samples(
            self, data,
            terms: Sequence[UDALossTerm]) -> List[Tuple[str, Sequence]]:
        """The labelled samples of a batch before pre-processing (target
        samples only when a term reads the target labels)."""
        samples = data.get('data_samples') if isinstance(data, dict) \
            else None
        if not isinstance(samples, dict):
            return []
        branches = [('source', 'source')]
        if any('target_labels' in t.reads for t in terms):
            branches.append(('target', 'target (pseudo-label)'))
        out = []
        for key, branch in branches:
            labelled = [s for s in samples.get(key) or []
                        if 'gt_sem_seg' in s]
            if labelled:
                out.append((branch, labelled))
        return out

    @staticmethod
    def label_path(sample) -> str:
        """The label's file (else the image's) of a sample, for messages."""
        return sample.metainfo.get('seg_map_path') or sample.metainfo.get(
            'img_path', '<unknown file>')

    def _check_label_values(self, samples: Sequence, branch: str) -> None:
        """Fail early on class ids the loss cannot use.

        Runs on the labels as loaded (CPU tensors from the data loader), so
        it costs no device synchronisation.
        """
        ignore = self.uda_cfg['ignore_index']
        for s in samples:
            label = s.gt_sem_seg.data
            valid = label[label != ignore]
            if valid.numel() and (int(valid.max()) >= self.num_classes
                                  or int(valid.min()) < 0):
                raise ConfigCheckError(
                    f'{branch} label {self.label_path(s)} holds class id '
                    f'{int(valid.max())} (min {int(valid.min())}) but the '
                    f'segmentor has {self.num_classes} classes; source and '
                    'target must use the same train-id map (0..'
                    f'{self.num_classes - 1}, {ignore} = ignore)')

    def check_label_shapes(self, samples: Sequence, branch: str,
                           size: Optional[torch.Size] = None) -> None:
        """Fail early on missing labels or label maps of the wrong size."""
        for s in samples:
            path = self.label_path(s)
            if 'gt_sem_seg' not in s:
                raise ConfigCheckError(
                    f'{branch} sample {path} has no gt_sem_seg')
            if size is None:
                continue
            shapes = [('label', tuple(s.gt_sem_seg.data.shape[-2:]))]
            if 'gt_seg_weight' in s:
                shapes.append(('weight',
                               tuple(s.gt_seg_weight.data.shape[-2:])))
            for what, shape in shapes:
                if shape != tuple(size):
                    raise ConfigCheckError(
                        f'{branch} {what} map of {path} is {shape[1]}x'
                        f'{shape[0]} (w x h) but the image is '
                        f'{size[1]}x{size[0]}; the pseudo-labels were '
                        'made at another resolution: regenerate them '
                        'with the current target pipeline')

    def probs(self, logits: Tensor, size) -> Tensor:
        """Softmax of the logits resized to ``size`` (what D sees)."""
        up = resize(logits.float(), size=tuple(size), mode='bilinear',
                    align_corners=self.align_corners, warning=False)
        return F.softmax(up, dim=1)

    def check_finite(self, losses: Dict[str, Tensor]) -> None:
        """Stop on a NaN/inf loss (``uda_cfg.check_finite``)."""
        if self.uda_cfg['check_finite']:
            self._finite_check(losses)

    # ------------------------------------------------------------------
    def val_step(self, data: Union[dict, tuple, list]) -> list:
        """Validation with the wrapped segmentor alone.

        Args:
            data (dict): A plain segmentation batch.

        Returns:
            list[SegDataSample]: Predictions.
        """
        # losses not yet read by the finite check are read before a score
        self._finite_check.flush()
        return self.segmentor.val_step(data)

    def test_step(self, data: Union[dict, tuple, list]) -> list:
        """Test with the wrapped segmentor alone.

        Args:
            data (dict): A plain segmentation batch.

        Returns:
            list[SegDataSample]: Predictions.
        """
        return self.segmentor.test_step(data)

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[list] = None,
                mode: str = 'tensor'):
        """The wrapped segmentor's forward (pre-processed inputs).

        Args:
            inputs (Tensor): Images (N, C, H, W).
            data_samples (list, optional): Samples. Defaults to None.
            mode (str): 'tensor', 'predict' or 'loss'. Defaults to 'tensor'.

        Returns:
            The segmentor's output for ``mode``.
        """
        return self.segmentor(inputs, data_samples, mode=mode)

    def predict(self, inputs: Tensor, data_samples: Optional[list] = None):
        """Predict with the wrapped segmentor.

        Args:
            inputs (Tensor): Pre-processed images.
            data_samples (list, optional): Samples. Defaults to None.

        Returns:
            list[SegDataSample]: Predictions.
        """
        return self.segmentor(inputs, data_samples, mode='predict')
