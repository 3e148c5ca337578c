"""The contract of a loss term of M and the step it reads from."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmseg.models.utils import resize
from torch import Tensor

from mmbdl.registry import LOSS_TERMS
from mmbdl.utils.errors import ConfigCheckError
from ..utils.color_augment import augment_normalised

REDUCTIONS = ('valid', 'all')


def weighted_pixel_ce(logits: Tensor, labels: Tensor,
                      weights: Optional[Tensor], ignore_index: int,
                      align_corners: bool,
                      reduction: str = 'valid') -> Tensor:
    """``sum_p w_p CE_p / #{p: y_p != ignore}`` on the labels' grid.

    With ``reduction='all'`` the sum is divided by the number of all pixels
    instead (``mean_p`` over the batch with ignored pixels counted as 0, as
    VFM-UDA's ``(CE(reduction='none') * w).mean()``).

    Args:
        logits (Tensor): Logits (N, C, h, w), resized bilinearly to the
            labels' size.
        labels (Tensor): Labels (N, H, W) long.
        weights (Tensor, optional): Pixel weights (N, H, W); None = 1.
        ignore_index (int): Label of ignored pixels.
        align_corners (bool): The decode head's ``align_corners``.
        reduction (str): 'valid' (divide by the labelled pixels) or 'all'
            (by every pixel). Defaults to 'valid'.

    Returns:
        Tensor: The weighted mean (0 when no pixel is labelled).
    """
    if reduction not in REDUCTIONS:
        raise ConfigCheckError(
            f'reduction must be one of {REDUCTIONS}, got {reduction!r}')
    up = resize(logits.float(), size=labels.shape[-2:], mode='bilinear',
                align_corners=align_corners, warning=False)
    ce = F.cross_entropy(up, labels, ignore_index=ignore_index,
                         reduction='none')
    if weights is not None:
        ce = ce * weights.to(ce.device)
    valid = labels != ignore_index
    if reduction == 'all':
        return ce[valid].sum() / labels.numel()
    return ce[valid].sum() / valid.sum().clamp(min=1)


class UDAStep:
    """The pre-processed batch of one training step, shared by its terms.

    Built by the segmentor after its data pre-processor; every term reads
    it (and writes the cached outputs below into it), so no state survives
    the step. Cached on first use, in the order the terms ask:

    - :meth:`target_logits`: the student M on the target images;
    - :attr:`source_logits`: set by the source term (the adversarial
      term's D step reads them);
    - :meth:`teacher_labels`: the model's teacher labels of the target.

    Args:
        model (AdvSelfTrainingSegmentor): The model being trained.
        inputs (dict): ``{'source': Tensor, 'target': Tensor}``.
        samples (dict): ``{'source': [...], 'target': [...]}``.
    """

    def __init__(self, model, inputs: dict, samples: dict) -> None:
        self.model = model
        self.source: Tensor = inputs['source']
        self.target: Optional[Tensor] = inputs.get('target')
        self.source_samples: List = samples.get('source') or []
        self.target_samples: List = samples.get('target') or []
        self.source_logits: Optional[Tensor] = None
        self._target_logits: Optional[Tensor] = None
        self._teacher: Optional[Tuple[Tensor, Tensor]] = None
        self.extras: Dict[str, object] = {}
        # log variables reported after the losses (tensors, no host sync)
        self.log_vars: Dict[str, Tensor] = {}

    def student_logits(self, images: Tensor,
                       token_mask_ratio: float = 0.0) -> Tensor:
        """M's decode-head logits of ``images`` (with gradients).

        Args:
            images (Tensor): Pre-processed images (N, 3, H, W).
            token_mask_ratio (float): Share of the backbone's patch tokens
                replaced by its mask token (a ViT with
                ``token_masking``, e.g. DINOv2's); 0 = none.
        """
        seg = self.model.segmentor
        if token_mask_ratio > 0:
            masking = getattr(seg.backbone, 'token_masking', None)
            if masking is None:
                raise ConfigCheckError(
                    f'token masking needs a ViT backbone with a mask token, '
                    f'got {type(seg.backbone).__name__}; use '
                    "mask_mode='blocks' in the MaskedConsistency term")
            with masking(token_mask_ratio):
                return seg.decode_head.forward(seg.extract_feat(images))
        return seg.decode_head.forward(seg.extract_feat(images))

    def augment(self, images: Tensor, augment) -> Tensor:
        """``images`` (pre-processed) through a
        :class:`~mmbdl.models.utils.ColorAugment` (None: unchanged)."""
        return augment_normalised(images, augment,
                                  self.model.data_preprocessor)

    def target_ignore_mask(self) -> Tensor:
        """The target samples' ``ignore_mask`` as (N, H, W) bool (True =
        no pseudo-label weight there), from the pipeline's
        ``BorderIgnoreMask``."""
        if not all('ignore_mask' in s for s in self.target_samples):
            raise ConfigCheckError(
                "ema_cfg.ignore_mask=True needs an ignore_mask in every "
                "target sample: add dict(type='BorderIgnoreMask') after "
                "loading and pack with 'PackSegInputsWithIgnoreMask' in the "
                'target pipeline')
        masks = torch.stack([s.ignore_mask.data
                             for s in self.target_samples])
        return masks.squeeze(1).to(self.target.device) == 255

    def target_logits(self) -> Tensor:
        """M's logits of the target images, computed once per step."""
        if self._target_logits is None:
            self._target_logits = self.student_logits(self.target)
        return self._target_logits

    def teacher_labels(self) -> Tuple[Tensor, Tensor]:
        """The teacher's labels and weights of the target, once per step.

        Asks the model (``teacher_pseudo_labels``); reports the batch's
        quality as ``ema.pseudo_quality`` and the phase's confident
        fraction as ``ema.pixel_ratio``.
        """
        if self._teacher is None:
            labels, weights, quality = self.model.teacher_pseudo_labels(
                self.target)
            if self.model.ema_cfg.get('ignore_mask'):
                weights = weights.masked_fill(self.target_ignore_mask(), 0.)
            self._teacher = (labels, weights)
            stats = self.model.ema_pixel_stats.detach()
            self.log_vars['ema.pseudo_quality'] = quality.detach()
            self.log_vars['ema.pixel_ratio'] = stats[0] / stats[1].clamp(
                min=1)
        return self._teacher


class UDALossTerm:
    """One loss of M's training step, registered in ``LOSS_TERMS``.

    The segmentor runs the active terms of a phase in their listed order:

    1. :meth:`check` on the built model (missing sub-models are refused);
    2. :meth:`prepare` after pre-processing, before M's step (no gradient:
       teacher labels, mixing);
    3. :meth:`loss` inside M's optimizer context, D frozen; the returned
       losses are summed (in term order) into one backward and one update
       of M;
    4. :meth:`extra_step` after M's update: an optimizer step the term
       owns (e.g. D's), returning log variables.

    A subclass declares its contract as class attributes:

    Attributes:
        name (str): The term's name in messages and ``loss_terms`` lists.
        reads (tuple[str]): What it reads from the batch: 'source',
            'source_labels', 'target', 'target_labels'.
        runs (tuple[str]): The sub-models it runs: 'segmentor',
            'discriminator', 'teacher'.
        needs (dict[str, str]): Model attributes it needs, each with the
            config key that provides it (checked at build time).
        optim_keys (tuple[str]): Keys of the ``OptimWrapperDict`` it steps
            in :meth:`extra_step`, besides 'segmentor'.
        loss_keys (tuple[str]): The loss keys it returns.
    """

    name: str = ''
    reads: Tuple[str, ...] = ()
    runs: Tuple[str, ...] = ('segmentor', )
    needs: Dict[str, str] = {}
    optim_keys: Tuple[str, ...] = ()
    loss_keys: Tuple[str, ...] = ()

    def check(self, model) -> None:
        """Refuse a model without a sub-model the term runs."""
        for attr, key in self.needs.items():
            if getattr(model, attr, None) is None:
                raise ConfigCheckError(
                    f'loss term {self.name!r} needs the model\'s {attr}; '
                    f'add {key}')

    def check_batch(self, step: UDAStep) -> None:
        """Refuse a batch without an input the term reads."""
        if 'target' in self.reads and step.target is None:
            raise ConfigCheckError(
                f'loss term {self.name!r} needs a target branch in every '
                "batch; set train_dataloader.dataset.type='UDADataset'")

    def prepare(self, step: UDAStep) -> None:
        """Work done before M's step, without gradients (default: none)."""

    def loss(self, step: UDAStep) -> Dict[str, Tensor]:
        """The term's losses of M (keys :attr:`loss_keys`)."""
        raise NotImplementedError

    def extra_step(self, step: UDAStep,
                   wrappers: dict) -> Optional[Dict[str, Tensor]]:
        """An optimizer step the term owns, after M's (default: none)."""
        return None

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.name!r})'


def build_loss_term(cfg) -> UDALossTerm:
    """Build a term from its config (``dict(type=..., **args)`` or a name).

    Raises:
        ConfigCheckError: For an unknown type, naming the registered ones.
    """
    cfg = dict(type=cfg) if isinstance(cfg, str) else dict(cfg)
    kind = cfg.get('type')
    cls = LOSS_TERMS.get(kind) if isinstance(kind, str) else None
    if not (isinstance(cls, type) and issubclass(cls, UDALossTerm)):
        LOSS_TERMS.import_from_location()
        raise ConfigCheckError(
            f'unknown loss term type {kind!r}; registered terms: '
            f'{registered_terms()}')
    return LOSS_TERMS.build(cfg)


def registered_terms() -> List[str]:
    """list[str]: Names every term is registered under."""
    LOSS_TERMS.import_from_location()
    return sorted(LOSS_TERMS.module_dict)


def labels_of(samples: Sequence) -> Tensor:
    """The stacked ``gt_sem_seg`` of samples as (N, H, W) long."""
    return torch.stack([s.gt_sem_seg.data for s in samples]).squeeze(
        1).long()
