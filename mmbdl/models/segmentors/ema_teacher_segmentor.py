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
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.models.utils import resize
from torch import Tensor

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
)


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
    self-training phases of ``train_cfg.self_training='ema_teacher'``), each
    training step first labels the target batch with the teacher::

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
        ema_cfg (dict, optional): ``pseudo_threshold`` (0.968, DAFormer's),
            ``class_mix`` (False) and ``rule`` (None: the quality rule with
            ``pseudo_threshold``; or any rule config without ``fit``, e.g.
            ``dict(type='fixed', threshold=0.9)``; then ``pseudo_threshold``
            is not given).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 segmentor: ConfigType,
                 discriminator: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 uda_cfg: OptConfigType = None,
                 ema_cfg: OptConfigType = None,
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
        self._mixed: Optional[Tensor] = None
        self._quality: Optional[Tensor] = None

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

    # ------------------------------------------------------------------
    def _split_branches(self, data: dict) -> Tuple[dict, dict]:
        """Split the batch; label the target branch with the teacher.

        Called by ``train_step`` right after pre-processing, so the labels
        are made from exactly the images the student sees.
        """
        inputs, samples = super()._split_branches(data)
        self._mixed = None
        if not self.online_self_training:
            return inputs, samples
        tgt = inputs.get('target')
        tgt_samples = samples.get('target')
        if tgt is None or not tgt_samples:
            raise ConfigCheckError(
                'online self-training needs a target branch in every batch '
                '(UDADataset)')
        if any('gt_sem_seg' in s for s in tgt_samples):
            raise ConfigCheckError(
                'online self-training labels the target batch itself, but '
                'the target samples already carry labels: remove '
                'pseudo_label_dir from the UDADataset config (and the '
                'PseudoLabelHook)')
        labels, weights = self.teacher_labels(tgt)
        if self.ema_cfg['class_mix']:
            self._mixed, labels, weights = self.class_mix(
                inputs['source'], samples['source'], tgt, labels, weights)
        for sample, label, weight in zip(tgt_samples, labels, weights):
            sample.gt_sem_seg = PixelData(data=label[None])
            sample.gt_seg_weight = PixelData(data=weight[None])
        return inputs, samples

    @torch.no_grad()
    def teacher_labels(self, images: Tensor) -> Tuple[Tensor, Tensor]:
        """The teacher's labels and DAFormer's quality weights.

        Args:
            images (Tensor): Pre-processed target images (N, 3, H, W).

        Returns:
            tuple[Tensor, Tensor]: Labels (N, H, W) long (255 where the rule
            drops a pixel) and pixel weights (N, H, W) float (the default
            rule: all equal to the batch's confident fraction).
        """
        teacher = self.teacher
        logits = teacher.decode_head.forward(teacher.extract_feat(images))
        probs = F.softmax(
            resize(logits.float(), size=images.shape[-2:], mode='bilinear',
                   align_corners=self._align, warning=False), dim=1)
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
        self._quality = quality
        return labels, weights

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

    @torch.no_grad()
    def class_mix(self, src: Tensor, src_samples: List, tgt: Tensor,
                  labels: Tensor,
                  weights: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """DACS class-mix: half of each source image's classes on the target.

        Args:
            src (Tensor): Pre-processed source images (N, 3, h, w).
            src_samples (list): Source samples with ``gt_sem_seg``.
            tgt (Tensor): Pre-processed target images (N, 3, H, W).
            labels (Tensor): Teacher labels (N, H, W).
            weights (Tensor): Teacher pixel weights (N, H, W).

        Returns:
            tuple[Tensor, Tensor, Tensor]: Mixed images, labels, weights.
        """
        ignore = self.uda_cfg['ignore_index']
        size = tgt.shape[-2:]
        src_labels = torch.stack(
            [s.gt_sem_seg.data for s in src_samples]).to(tgt.device)
        if src.shape[-2:] != size:
            src = resize(src, size=size, mode='bilinear',
                         align_corners=False, warning=False)
            src_labels = F.interpolate(src_labels.float(), size=size,
                                       mode='nearest').long()
        src_labels = src_labels[:, 0].long()
        mixed_img, mixed_lbl, mixed_w = tgt.clone(), labels.clone(), \
            weights.clone()
        for i in range(tgt.shape[0]):
            classes = torch.unique(src_labels[i])
            classes = classes[classes != ignore]
            if classes.numel() == 0:
                continue
            pick = torch.randperm(classes.numel(), device=classes.device)
            chosen = classes[pick[:(classes.numel() + 1) // 2]]
            mask = torch.isin(src_labels[i], chosen)
            mixed_img[i][:, mask] = src[i][:, mask]
            mixed_lbl[i][mask] = src_labels[i][mask]
            mixed_w[i][mask] = 1.0
        return mixed_img, mixed_lbl, mixed_w

    def pseudo_label_loss(self, logits: Tensor, samples: List) -> Tensor:
        """The pseudo-label loss; on the class-mixed images when mixing.

        Args:
            logits (Tensor): Student logits of the target images.
            samples (list[SegDataSample]): Target samples with the
                (mixed) labels and weights.

        Returns:
            Tensor: The weighted cross-entropy.
        """
        if self._mixed is not None:
            seg = self.segmentor
            logits = seg.decode_head.forward(seg.extract_feat(self._mixed))
            self._mixed = None
        return super().pseudo_label_loss(logits, samples)

    def train_step(self, data, optim_wrapper) -> Dict[str, Tensor]:
        """``AdvSelfTrainingSegmentor.train_step``, with the teacher labelling
        the target batch while :attr:`online_self_training` is set."""
        try:
            log_vars = super().train_step(data, optim_wrapper)
            if self._quality is not None:
                stats = self.ema_pixel_stats.detach()
                log_vars['ema.pseudo_quality'] = self._quality.detach()
                log_vars['ema.pixel_ratio'] = stats[0] / stats[1].clamp(min=1)
            return log_vars
        finally:
            self._mixed = None
            self._quality = None
