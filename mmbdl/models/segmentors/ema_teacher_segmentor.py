"""BDL's M with an EMA teacher that pseudo-labels each target batch online.

An alternative to the offline self-training rounds (pseudo-labels written to
disk by ``PseudoLabelHook`` before each round): during a self-training
phase, a mean teacher (an exponential moving average of M's weights, as in
DAFormer) labels every target batch as it arrives, and the pseudo-label loss
is weighted by DAFormer's quality estimate.
"""
import copy
from typing import Dict, List, Optional, Tuple

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from mmseg.models.utils import resize
from torch import Tensor
from torch.nn.modules.dropout import _DropoutNd

from mmbdl.registry import MODELS
from mmbdl.utils.errors import ConfigCheckError
from mmbdl.utils.head_align_corners import head_align_corners
from mmbdl.utils.typing_utils import ConfigType, OptConfigType, OptMultiConfig
from ..utils.pseudo_label_rules import build_pseudo_label_rule
from .adv_self_training_segmentor import AdvSelfTrainingSegmentor

DEFAULT_EMA_CFG = dict(
    pseudo_threshold=0.968,
    class_mix=False,
    rule=None,
    flip=False,
    teacher_mode='eval',
    ignore_mask=False,
)
TEACHER_MODES = ('eval', 'train')
# drop-path layers (mmcv's, timm's) by class name: no import of either
DROP_PATHS = ('DropPath', 'PatchDropout')


def train_without_dropout(module: nn.Module) -> None:
    """Train mode for ``module`` except its dropout and drop-path layers
    (VFM-UDA's teacher: normalisation layers in training mode, no random
    dropping)."""
    module.train()
    for m in module.modules():
        if isinstance(m, _DropoutNd) or type(m).__name__ in DROP_PATHS:
            m.training = False


@MODELS.register_module()
class EMATeacherSegmentor(AdvSelfTrainingSegmentor):
    """:class:`AdvSelfTrainingSegmentor` holding an EMA teacher.

    ``teacher`` is a copy of the wrapped segmentor (same config), never
    trained by an optimizer and always in eval mode. It is part of the
    model's ``state_dict``, so checkpoints hold it and a resume continues
    with the exact teacher. :class:`~mmbdl.engine.hooks.EMATeacherHook`
    copies M into it before each self-training phase and moves it towards M
    after every iteration of the phase:
    ``teacher = alpha * teacher + (1 - alpha) * M``.

    While :attr:`online_self_training` is True (the BDL loop sets it for the
    self-training phases of ``train_cfg.self_training='ema_teacher'``), the
    pseudo-label role of a phase is played by the loss term
    ``teacher_pseudo_label`` (``class_mix`` with ``ema_cfg.class_mix``),
    which asks this model for the teacher's labels of the target batch
    (:meth:`teacher_pseudo_labels`, once per step)::

        p = softmax(up(teacher(T)))         # up: to the input size, with the
                                            # head's align_corners
        y, w = rule.select(p)
        pseudo.loss_ce = pseudo_loss_weight * mean_p(w * CE(M(T), y))

    The rule is a :class:`~mmbdl.models.utils.PseudoLabelRule`
    (``TASK_UTILS``), by default DAFormer's quality estimate
    (``QualityWeightRule``: ``y = argmax_c p`` everywhere,
    ``w = q = #{p_max >= pseudo_threshold} / #pixels``, one weight per
    batch). With ``class_mix=True`` (DACS) the student instead sees a
    mixed image: the pixels of half of the classes present in each source
    label are pasted onto the target image, and the mixed label is the
    source label there (weight 1) and the teacher's label elsewhere
    (weight ``q``). A source image of another size than the target is
    resized to it first (bilinear image, nearest label). The adversarial and
    source terms are those of :class:`AdvSelfTrainingSegmentor`.

    Each step reports ``q`` of its batch as ``ema.pseudo_quality`` and the
    fraction of confident pixels so far in the phase (over all ranks) as
    ``ema.pixel_ratio`` in its log variables (tensors: no host sync).
    :meth:`label_statistics` gives the phase's fraction at its end
    (``pixel_ratio``); the ``EMATeacherHook`` returns it to the loop, so the
    round table reports it like the offline rounds' kept-pixel ratio.

    Args:
        segmentor (dict): Config of the MMSegmentation segmentor (M).
        discriminator (dict, optional): Config of D. Defaults to None.
        data_preprocessor (dict, optional): The UDA pre-processor.
        uda_cfg (dict, optional): See :class:`AdvSelfTrainingSegmentor`.
        loss_terms (dict, optional): See :class:`AdvSelfTrainingSegmentor`;
            the teacher terms ('TeacherPseudoLabel', 'ClassMix',
            'MaskedConsistency') need this model's teacher.
        ema_cfg (dict, optional): ``pseudo_threshold`` (0.968, DAFormer's),
            ``class_mix`` (False), ``rule`` (None: the quality rule with
            ``pseudo_threshold``; or any rule config without ``fit``, e.g.
            ``dict(type='fixed', threshold=0.9)``; then ``pseudo_threshold``
            is not given), and VFM-UDA's labelling: ``flip`` (False: True
            averages the teacher's softmax with that of the horizontally
            flipped image, flipped back), ``teacher_mode`` ('eval'; 'train'
            labels in train mode with dropout and drop-path off) and
            ``ignore_mask`` (False: True zeroes the weights where the target
            sample's ``ignore_mask`` is 255, from ``BorderIgnoreMask``).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 segmentor: ConfigType,
                 discriminator: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 uda_cfg: OptConfigType = None,
                 ema_cfg: OptConfigType = None,
                 loss_terms: Optional[dict] = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(segmentor=segmentor, discriminator=discriminator,
                         data_preprocessor=data_preprocessor,
                         uda_cfg=uda_cfg, init_cfg=init_cfg)
        unknown = sorted(set(ema_cfg or {}) - set(DEFAULT_EMA_CFG))
        if unknown:
            raise ConfigCheckError(
                f'unknown ema_cfg keys {unknown}; valid keys: '
                f'{sorted(DEFAULT_EMA_CFG)}')
        given = dict(ema_cfg or {})
        self.ema_cfg = {**DEFAULT_EMA_CFG, **given}
        if not 0.0 <= self.ema_cfg['pseudo_threshold'] < 1.0:
            raise ConfigCheckError(
                'ema_cfg.pseudo_threshold must be in [0, 1), got '
                f"{self.ema_cfg['pseudo_threshold']}")
        if self.ema_cfg['teacher_mode'] not in TEACHER_MODES:
            raise ConfigCheckError(
                f'ema_cfg.teacher_mode must be one of {TEACHER_MODES}, got '
                f"{self.ema_cfg['teacher_mode']!r}")
        if given.get('rule') is not None and 'pseudo_threshold' in given:
            raise ConfigCheckError(
                'ema_cfg has both rule and pseudo_threshold; the threshold '
                "belongs in the rule's config")
        self.rule = build_pseudo_label_rule(
            self.ema_cfg['rule'] or dict(
                type='daformer_quality',
                threshold=self.ema_cfg['pseudo_threshold']))
        if self.rule.needs_fit:
            raise ConfigCheckError(
                f'ema_cfg.rule {self.rule!r} fits its thresholds on the whole '
                'target set, which an online teacher never sees; use a rule '
                "without fit (e.g. 'fixed', 'soft', 'daformer_quality')")
        # fail at build time for a head whose resizing cannot be read
        self._align = head_align_corners(self.segmentor)
        self.teacher = copy.deepcopy(self.segmentor)
        self.teacher.requires_grad_(False)
        self.teacher.eval()
        # confident / all pixels of the current self-training phase
        self.register_buffer('ema_pixel_stats',
                             torch.zeros(2, dtype=torch.float64))
        self.online_self_training = False
        # built once the teacher exists (the teacher terms check for it)
        self.loss_terms = self.build_loss_terms(loss_terms)

    # ------------------------------------------------------------------
    def init_weights(self) -> None:
        """Initialise M (and D), then start the teacher as a copy of M.

        The teacher's own initialisation is skipped: it would be overwritten
        by the copy anyway, and skipping it keeps the random-number stream
        (and a pretrained load) exactly that of an
        :class:`AdvSelfTrainingSegmentor`, so an online and an offline run
        with the same seed agree until the first self-training phase.
        """
        self.teacher.is_init = True
        super().init_weights()
        self.reset_teacher()

    def train(self, mode: bool = True) -> 'EMATeacherSegmentor':
        """Set the training mode; the teacher always stays in eval mode."""
        super().train(mode)
        self.teacher.eval()
        return self

    @torch.no_grad()
    def reset_teacher(self) -> None:
        """Teacher <- M (parameters and buffers); phase statistics <- 0."""
        self.teacher.load_state_dict(self.segmentor.state_dict())
        self._sync_teacher_buffers()
        self.ema_pixel_stats.zero_()

    @torch.no_grad()
    def ema_update(self, alpha: float) -> None:
        """``teacher = alpha * teacher + (1 - alpha) * M``.

        Floating-point buffers (e.g. BN running statistics) are averaged the
        same way (then over ranks), integer buffers (``num_batches_tracked``)
        copied.

        Args:
            alpha (float): EMA decay in [0, 1].
        """
        teacher = dict(self.teacher.named_parameters())
        for name, param in self.segmentor.named_parameters():
            teacher[name].mul_(alpha).add_(param.detach(), alpha=1 - alpha)
        teacher_buffers = dict(self.teacher.named_buffers())
        for name, buf in self.segmentor.named_buffers():
            dst = teacher_buffers[name]
            if dst.is_floating_point():
                dst.mul_(alpha).add_(buf.detach(), alpha=1 - alpha)
            else:
                dst.copy_(buf)
        self._sync_teacher_buffers()

    @torch.no_grad()
    def _sync_teacher_buffers(self) -> None:
        """Average the teacher's float buffers over ranks.

        The parameters of M, and so of the teacher, are identical on every
        rank (the gradients are averaged), but BN running statistics are
        each rank's own; averaging them keeps the teacher identical on every
        rank, so every rank labels with the same model.
        """
        if not (dist.is_available() and dist.is_initialized()) or \
                dist.get_world_size() == 1:
            return
        world = dist.get_world_size()
        for buf in self.teacher.buffers():
            if buf.is_floating_point():
                dist.all_reduce(buf)
                buf.div_(world)

    @property
    def align_corners(self) -> bool:
        """bool: The decode head's ``align_corners`` (read, never assumed)."""
        return self._align

    def role_terms(self, role: str) -> List[str]:
        """While self-training online, the pseudo-label role is played by
        the teacher's labels (``class_mix`` with ``ema_cfg.class_mix``)."""
        if role == 'pseudo_labels' and self.online_self_training:
            return ['class_mix' if self.ema_cfg['class_mix'] else
                    'teacher_pseudo_label']
        return super().role_terms(role)

    def teacher_labels(self, images: Tensor) -> Tuple[Tensor, Tensor]:
        """The teacher's labels and weights (:meth:`teacher_pseudo_labels`
        without the quality)."""
        return self.teacher_pseudo_labels(images)[:2]

    @torch.no_grad()
    def teacher_pseudo_labels(self,
                              images: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """The teacher's labels, pixel weights and the batch's quality.

        Adds the batch's confident and total pixels (over all ranks) to the
        phase's statistics (:meth:`label_statistics`).

        Args:
            images (Tensor): Pre-processed target images (N, 3, H, W).

        Returns:
            tuple[Tensor, Tensor, Tensor]: Labels (N, H, W) long (255 where
            the rule drops a pixel), pixel weights (N, H, W) float (the
            default rule: all equal to the batch's confident fraction) and
            that fraction ``q`` of this rank's batch (a 0-d tensor).
        """
        probs = self.teacher_probs(images)
        labels, weights = self.rule.select(probs)
        if weights is None:
            weights = torch.ones_like(probs[:, 0])
        confident = self.rule.trusted(probs)
        device = self.ema_pixel_stats.device
        stats = torch.stack([
            confident.sum().to(device=device, dtype=torch.float64),
            torch.tensor(float(confident.numel()), dtype=torch.float64,
                         device=device)
        ])
        quality = stats[0] / stats[1]
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(stats)
        self.ema_pixel_stats += stats
        return labels, weights, quality

    @torch.no_grad()
    def teacher_probs(self, images: Tensor) -> Tensor:
        """The teacher's class probabilities at the images' size.

        ``softmax(up(teacher(T)))``, averaged with the flipped prediction
        of the flipped images when ``ema_cfg.flip``; in the mode of
        ``ema_cfg.teacher_mode``.

        Args:
            images (Tensor): Pre-processed target images (N, 3, H, W).

        Returns:
            Tensor: Probabilities (N, C, H, W) float32.
        """
        teacher = self.teacher

        def probs_of(x: Tensor) -> Tensor:
            logits = teacher.decode_head.forward(teacher.extract_feat(x))
            return F.softmax(
                resize(logits.float(), size=x.shape[-2:], mode='bilinear',
                       align_corners=self._align, warning=False), dim=1)

        if self.ema_cfg['teacher_mode'] == 'train':
            train_without_dropout(teacher)
        try:
            probs = probs_of(images)
            if self.ema_cfg['flip']:
                probs = (probs + probs_of(images.flip(-1)).flip(-1)) / 2
        finally:
            teacher.eval()
        return probs

    def label_statistics(self) -> Dict:
        """The phase's pseudo-label statistics so far (all ranks).

        Returns:
            dict: ``source='ema_teacher'``, ``pixel_ratio`` (confident /
            all pixels, None before any batch) and ``threshold``.
        """
        confident, total = self.ema_pixel_stats.tolist()
        return dict(source='ema_teacher',
                    pixel_ratio=confident / total if total else None,
                    rule=self.rule.to_dict(),
                    threshold=self.rule.to_dict().get('threshold'))
