"""CycleGAN with BDL's segmentation perceptual loss (Eq. 2 of the paper)."""
import copy
import logging
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmagic.models.editors.cyclegan import CycleGAN
from mmengine.logging import print_log
from mmengine.optim import OptimWrapperDict
from torch import Tensor

from mmbdl.models.utils.grad_sync import synchronised_steps
from mmbdl.registry import MODELS
from mmbdl.utils.errors import ConfigCheckError
from mmbdl.utils.typing_utils import OptConfigType
from .base_translator import BaseTranslator
from .generator_first import GeneratorFirstStepMixin
from .perceptual_memory import (InjectGradient, checkpoint_modules,
                                enable_activation_checkpointing,
                                input_gradient, loss_scale_of)
from .perceptual_weights import PerceptualWeightsMixin
from .utils import (ImageNormalization, generator_to_segmentor_input,
                    get_generator_normalization, get_segmentor_normalization)

PERCEPTUAL_LOSS_TYPES = ('mse_in', 'l1')
UPDATE_ORDERS = ('generator_first', 'discriminator_first')


@MODELS.register_module()
class PerceptualCycleGAN(GeneratorFirstStepMixin, PerceptualWeightsMixin,
                         CycleGAN, BaseTranslator):
    """MMagic's CycleGAN plus a perceptual loss from a frozen segmentor M.

    The domains are ``'source'`` and ``'target'``: ``generators['target']``
    is F (source -> target), ``generators['source']`` is F^-1, and batches
    carry ``img_source`` / ``img_target``. On top of CycleGAN's generator loss
    (LSGAN, cycle, identity) every direction ``a`` (with ``b`` the other
    domain) adds::

        lambda_per       * d(M(G_b(a)),        M(a))    # translation
        lambda_per_recon * d(M(G_a(G_b(a))),   M(a))    # reconstruction

    where M gives the segmentor's raw class logits (``mode='tensor'``, 1/8
    resolution for DeepLab) of images converted by
    :func:`generator_to_segmentor_input`. ``d`` is ``'mse_in'`` (the released
    code: ``mean((IN(x) - IN(y)) ** 2)`` with a non-affine instance norm over
    the class channels) or ``'l1'`` (the paper: ``mean(|x - y|)`` on the raw
    logits). M is frozen (``requires_grad=False``) and always in eval mode,
    but gradients flow through it into the generators. ``M(a)`` of the real
    image is computed without gradient (it does not depend on the
    generators).

    Without ``perceptual_model``, or with both weights 0, the model is exactly
    MMagic's CycleGAN.

    Training needs an ``OptimWrapperDict`` with keys ``'generators'`` and
    ``'discriminators'`` (MMagic's convention). Before a translation phase the
    BDL loop copies the current segmentor into M with
    :meth:`load_perceptual_weights`.

    It implements the translator contract
    (:class:`~.base_translator.BaseTranslator`): :meth:`translate` runs the
    generator of the target domain, :meth:`resume_state` holds the image
    pools.

    Update order: ``update_order='generator_first'`` (default, the
    release's ``cycle_gan_model.py``) updates the generators first with both
    discriminators frozen, then the discriminators on generated images drawn
    from the image pools (the fakes of this step's forward pass, detached).
    ``'discriminator_first'`` keeps MMagic's ``CycleGAN.train_step``: the
    discriminators first, then the generators against the updated
    discriminators.

    Memory: by default (``perceptual_memory_saving=True``) each perceptual
    term is backpropagated through M on its own, ``perceptual_chunk``
    samples at a time, with M's residual blocks checkpointed, and its input
    gradient is injected into the generators' single backward pass (see
    :mod:`.perceptual_memory`). The gradients equal those of one joint
    backward pass up to float rounding; ``False`` restores the joint pass
    (all four generated images of a sample through M in one graph).

    Distributed training: MMagic's CycleGAN calls the generators and
    discriminators through ``.module``, bypassing DDP's forward, so DDP never
    reduces their gradients and the ranks drift apart. In a distributed run
    :meth:`train_step` therefore averages every optimizer's gradients over
    the ranks right before its step
    (:func:`~mmbdl.models.utils.grad_sync.synchronised_steps`; inside
    ``BDLDistributedDataParallel``, whose own synchronisation encloses it,
    that one reduces them, once). Wrap the model with
    ``MMSeparateDistributedDataParallel`` (which broadcasts rank 0's initial
    weights) or use it unwrapped inside a parent model.

    Args:
        *args: Positional arguments of ``mmagic.CycleGAN``.
        perceptual_model (dict, optional): Config of any MMSegmentation
            segmentor (with a ``SegDataPreProcessor`` data_preprocessor).
            Defaults to None (plain CycleGAN).
        perceptual_checkpoint (str, optional): Checkpoint for M (a plain
            segmentor's, or one whose keys carry a prefix such as
            ``segmentor.segmentor.``; the prefix is found automatically).
            Defaults to None.
        perceptual_loss_cfg (dict, optional): ``loss_type`` ('mse_in' or
            'l1', default 'mse_in'), ``lambda_per`` (default 0.1) and
            ``lambda_per_recon`` (default 10.0). Defaults to None.
        num_classes (int, optional): Class count of the data; M must predict
            exactly this many classes. Defaults to None (not checked).
        update_order (str): 'generator_first' (the release) or
            'discriminator_first' (MMagic). Defaults to 'generator_first'.
        perceptual_memory_saving (bool): Backpropagate the perceptual terms
            one at a time with activation checkpointing inside M. Defaults
            to True.
        perceptual_chunk (int): Samples per pass of M when
            ``perceptual_memory_saving`` (``0``: the whole batch). Defaults
            to 1.
        generator_micro_batch (int): With ``update_order=
            'generator_first'``, the generator update of a batch runs this
            many samples at a time and sums their gradients: the same
            update, the generator activations of one micro-batch (about
            0.8 GB per sample and generator pass at 452x452). ``0``: the
            whole batch at once (fastest where memory allows). MMagic's
            ``'discriminator_first'`` step always takes the whole batch.
            Defaults to 1.
        generator_checkpointing (bool): Checkpoint the generators'
            residual blocks (their inputs are kept, the blocks recomputed
            in the backward pass: about 2 GB less per sample at 452x452 for
            about a fifth more generator compute). Defaults to True.
        **kwargs: Keyword arguments of ``mmagic.CycleGAN`` (``generator``,
            ``discriminator``, ``data_preprocessor``, domains, ``buffer_size``,
            ``loss_config``...).
    """

    def __init__(self,
                 *args,
                 perceptual_model: OptConfigType = None,
                 perceptual_checkpoint: Optional[str] = None,
                 perceptual_loss_cfg: OptConfigType = None,
                 num_classes: Optional[int] = None,
                 update_order: str = 'generator_first',
                 perceptual_memory_saving: bool = True,
                 perceptual_chunk: int = 1,
                 generator_micro_batch: int = 1,
                 generator_checkpointing: bool = True,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if update_order not in UPDATE_ORDERS:
            raise ConfigCheckError(f'update_order={update_order!r} is not '
                                   f'supported; use one of {UPDATE_ORDERS}')
        self.update_order = update_order
        self.perceptual_memory_saving = bool(perceptual_memory_saving)
        if int(perceptual_chunk) < 0:
            raise ConfigCheckError(
                f'perceptual_chunk={perceptual_chunk} must be '
                '>= 0 (0: the whole batch in one pass of M)')
        self.perceptual_chunk = int(perceptual_chunk)
        if int(generator_micro_batch) < 0:
            raise ConfigCheckError(
                f'generator_micro_batch={generator_micro_batch} must be >= 0 '
                '(0: the whole batch in one generator pass)')
        if generator_micro_batch and update_order != 'generator_first':
            generator_micro_batch = 0  # MMagic's own step: whole batch
        self.generator_micro_batch = int(generator_micro_batch)
        self.generator_checkpointing = bool(generator_checkpointing)
        if self.generator_checkpointing:
            blocks = [m for gen in self.get_module(self.generators).values()
                      for m in gen.modules()
                      if type(m).__name__ == 'ResidualBlockWithDropout']
            if not blocks:
                print_log(
                    'generator_checkpointing: the generators have no '
                    'ResidualBlockWithDropout blocks, nothing is '
                    'checkpointed', logger='current', level=logging.WARNING)
            checkpoint_modules(blocks)
        loss_cfg = dict(loss_type='mse_in', lambda_per=0.1,
                        lambda_per_recon=10.0)
        unknown = set(perceptual_loss_cfg or {}) - set(loss_cfg)
        if unknown:
            raise ConfigCheckError(
                f'perceptual_loss_cfg has unknown keys {sorted(unknown)}; '
                f'allowed: {sorted(loss_cfg)}')
        loss_cfg.update(perceptual_loss_cfg or {})
        if loss_cfg['loss_type'] not in PERCEPTUAL_LOSS_TYPES:
            raise ConfigCheckError(
                f"perceptual_loss_cfg.loss_type={loss_cfg['loss_type']!r} is "
                f'not supported; use one of {PERCEPTUAL_LOSS_TYPES}')
        self.perceptual_loss_cfg = loss_cfg
        self.num_classes = num_classes
        # 1 once M holds real weights (checkpoint, load_perceptual_weights or
        # a resumed translator checkpoint): training refuses a random M.
        # uint8 rather than bool: every backend can broadcast it.
        self.register_buffer('perceptual_loaded',
                             torch.tensor(0, dtype=torch.uint8))
        # the buffer lives on the device: reading it is a host sync, so it
        # is read once after every change (load, state-dict load), not per
        # step
        self._perceptual_checked = False
        self._register_load_state_dict_pre_hook(self._forget_check)
        # the generators' optimizer wrapper of the running train_step (its
        # AMP loss scale scales the perceptual terms' inner backward)
        self._gen_wrapper = None

        if perceptual_model is None:
            self.perceptual_model = None
            return
        self.perceptual_model = MODELS.build(copy.deepcopy(perceptual_model))
        self._seg_norm = get_segmentor_normalization(
            self.perceptual_model.data_preprocessor)
        self._gen_norm = get_generator_normalization(self.data_preprocessor)
        self._check_num_classes()
        self.perceptual_model.requires_grad_(False)
        self.perceptual_model.eval()
        if self.perceptual_memory_saving and not \
                enable_activation_checkpointing(self.perceptual_model):
            print_log(
                'perceptual_memory_saving: no residual blocks found in the '
                f'{type(self.perceptual_model).__name__} perceptual model, so '
                'its activations are not checkpointed (the terms are still '
                'backpropagated one at a time)', logger='current',
                level=logging.WARNING)
        if perceptual_checkpoint is not None:
            self._load_perceptual_checkpoint(perceptual_checkpoint)

    def _forget_check(self, *args, **kwargs) -> None:
        """State-dict pre-hook: ``perceptual_loaded`` may change."""
        self._perceptual_checked = False

    def init_weights(self) -> None:
        """Initialise generators and discriminators (not M).

        MMagic 1.2.0's ``BaseTranslationModel.init_weights`` crashes with an
        ``UnboundLocalError`` in ``generation_init_weights`` whenever a
        module carries MMEngine's ``_params_init_info`` (open-mmlab/mmagic
        issue 2109), which MMEngine sets on every sub-module when a parent
        model initialises. The bookkeeping attribute is hidden while each
        network initialises and restored afterwards. M keeps its weights: it
        is loaded from ``perceptual_checkpoint`` or by
        :meth:`load_perceptual_weights`.
        """
        networks = list(self.get_module(self.generators).values())
        if self.discriminators is not None:
            networks += list(self.get_module(self.discriminators).values())
        for net in networks:
            hidden = {}
            for module in net.modules():
                if '_params_init_info' in module.__dict__:
                    hidden[module] = module.__dict__.pop('_params_init_info')
            try:
                net.init_weights()
            finally:
                for module, info in hidden.items():
                    module._params_init_info = info

    # ------------------------------------------------------------------
    # the translator contract
    size_divisor = 4  # the ResNet generator halves the size twice

    @property
    def domains(self) -> Tuple[str, ...]:
        """tuple[str]: The reachable domains (``'source'``,
        ``'target'``)."""
        return tuple(self._reachable_domains)

    def opposite_domain(self, domain: str) -> str:
        """The other domain (MMagic's pairing)."""
        return self._get_opposite_domain(domain)

    def translate(self, img: Tensor, target_domain: str) -> Tensor:
        """Run the generator of ``target_domain`` on generator-space
        images."""
        return self._get_target_generator(target_domain)(img)

    @property
    def input_normalization(self) -> ImageNormalization:
        """ImageNormalization: The generators' input space (MMagic's data
        preprocessor)."""
        return get_generator_normalization(self.data_preprocessor)

    def direction_state(self, target_domain: str) -> Dict[str, Tensor]:
        """The weights of the generator of ``target_domain``."""
        return self._get_target_generator(target_domain).state_dict()

    @property
    def has_perceptual_model(self) -> bool:
        """bool: Whether M exists (it then receives the segmentor's
        weights)."""
        return self.perceptual_model is not None

    def _pools(self) -> dict:
        """The image pools that hold images (``buffer_size > 0``)."""
        pools = getattr(self, 'image_buffers', None) or {}
        return {domain: pool for domain, pool in pools.items()
                if getattr(pool, 'buffer_size', 0) > 0}

    def resume_state(self) -> Optional[dict]:
        """The image pools of the discriminator updates, on the CPU."""
        return {domain: dict(img_num=int(pool.img_num),
                             images=[t.detach().cpu()
                                     for t in pool.image_buffer])
                for domain, pool in self._pools().items()}

    def load_resume_state(self, state: Optional[dict]) -> None:
        """Restore pools saved by :meth:`resume_state`."""
        if not state:
            return
        pools = getattr(self, 'image_buffers', None) or {}
        device = next(self.parameters()).device
        for domain, saved in state.items():
            if domain in pools:
                pools[domain].img_num = saved['img_num']
                pools[domain].image_buffer = [t.to(device)
                                              for t in saved['images']]

    def reset_resume_state(self) -> None:
        """Empty the image pools."""
        for pool in self._pools().values():
            pool.img_num = 0
            pool.image_buffer = []

    # ------------------------------------------------------------------
    # perceptual model management
    @property
    def with_perceptual(self) -> bool:
        """Whether the perceptual loss is active (model and a weight > 0)."""
        cfg = self.perceptual_loss_cfg
        return self.perceptual_model is not None and (
            cfg['lambda_per'] != 0 or cfg['lambda_per_recon'] != 0)

    def _perceptual_num_classes(self) -> Optional[int]:
        model = self.perceptual_model
        num = getattr(model, 'num_classes', None)
        if num is None and hasattr(model, 'decode_head'):
            num = getattr(model.decode_head, 'num_classes', None)
        return num

    def _check_num_classes(self) -> None:
        if self.num_classes is None:
            return
        found = self._perceptual_num_classes()
        if found is not None and found != self.num_classes:
            raise ConfigCheckError(
                f'the perceptual model predicts {found} classes but the data '
                f'has {self.num_classes}; set num_classes={self.num_classes} '
                'in the decode head of perceptual_model (the segmentor M '
                'must be the one trained on this data)')

    def train(self, mode: bool = True) -> 'PerceptualCycleGAN':
        """Set train/eval mode; the perceptual model always stays in eval.

        Args:
            mode (bool): Train mode for generators and discriminators.
                Defaults to True.

        Returns:
            PerceptualCycleGAN: self.
        """
        super().train(mode)
        if getattr(self, 'perceptual_model', None) is not None:
            self.perceptual_model.eval()
        return self

    # ------------------------------------------------------------------
    # training
    def train_step(self, data: dict,
                   optim_wrapper: OptimWrapperDict) -> Dict[str, Tensor]:
        """One CycleGAN step in ``update_order``, grads averaged over ranks.

        Args:
            data (dict): Unpaired batch (``img_source`` / ``img_target``).
            optim_wrapper (OptimWrapperDict): Wrappers ``'generators'`` and
                ``'discriminators'``.

        Returns:
            dict: Log variables.
        """
        if self.update_order == 'generator_first':
            step = self._generator_first_step
        else:
            step = super().train_step
        self._gen_wrapper = optim_wrapper['generators']
        # the reduction MMagic's `.module` calls skip (no-op with one
        # process; left to an enclosing synchronisation, e.g.
        # BDLDistributedDataParallel's, which then reduces once)
        try:
            with synchronised_steps(
                    [optim_wrapper[k]
                     for k in ('generators', 'discriminators')]):
                return step(data, optim_wrapper)
        finally:
            self._gen_wrapper = None

    # ------------------------------------------------------------------
    # perceptual loss
    def perceptual_logits(self, img: Tensor) -> Tensor:
        """Class logits of M for generator-space images.

        Args:
            img (Tensor): ``(N, 3, H, W)`` images in the generator's space.

        Returns:
            Tensor: M's raw logits (``mode='tensor'``).
        """
        seg_input = generator_to_segmentor_input(img, self._seg_norm,
                                                 self._gen_norm)
        logits = self.perceptual_model(seg_input, None, mode='tensor')
        if isinstance(logits, (list, tuple)):
            logits = logits[-1]
        return logits

    def perceptual_distance(self, pred: Tensor, ref: Tensor) -> Tensor:
        """The distance ``d`` of the perceptual loss (mean reduced).

        Args:
            pred (Tensor): Logits of generated images ``(N, C, h, w)``.
            ref (Tensor): Logits of the real images ``(N, C, h, w)``.

        Returns:
            Tensor: Scalar distance.
        """
        if self.perceptual_loss_cfg['loss_type'] == 'mse_in':
            return F.mse_loss(F.instance_norm(pred), F.instance_norm(ref))
        return F.l1_loss(pred, ref)

    def _get_perceptual_losses(self, outputs: Dict[str, Tensor]
                               ) -> Dict[str, Tensor]:
        """Perceptual terms for every direction (empty when inactive).

        Args:
            outputs (dict): ``real_{d}``, ``fake_{d}``, ``cycle_{d}`` images
                of CycleGAN's forward pass.

        Returns:
            dict: ``loss_per_{d}`` and ``loss_per_recon_{d}`` (``d`` the
            domain of the real image), weighted.
        """
        if not self.with_perceptual:
            return {}
        if not self._perceptual_checked and not bool(self.perceptual_loaded):
            raise RuntimeError(
                'the perceptual model M still has its random initial weights: '
                'set perceptual_checkpoint in the translator config, or call '
                'load_perceptual_weights() before training (the BDL loop does '
                'this before every translation phase), or set '
                'perceptual_model=None to train a plain CycleGAN')
        self._perceptual_checked = True
        cfg = self.perceptual_loss_cfg
        losses = {}
        for domain in self._reachable_domains:
            other = self._get_opposite_domain(domain)
            real = outputs[f'real_{domain}']
            with torch.no_grad():
                ref = torch.cat([
                    self.perceptual_logits(part) for part in real.split(
                        self._chunk_size(real.shape[0]))
                ]) if self.perceptual_memory_saving else \
                    self.perceptual_logits(real)
            terms: List[Tuple[str, float, Tensor]] = []
            if cfg['lambda_per'] != 0:
                terms.append((f'loss_per_{domain}', cfg['lambda_per'],
                              outputs[f'fake_{other}']))
            if cfg['lambda_per_recon'] != 0:
                terms.append((f'loss_per_recon_{domain}',
                              cfg['lambda_per_recon'],
                              outputs[f'cycle_{domain}']))
            if self.perceptual_memory_saving:
                for name, weight, img in terms:
                    losses[name] = self._separate_term(weight, img, ref)
                continue
            # joint pass: one pass of M for both generated images (M is in
            # eval mode, so batching does not change the logits)
            logits = self.perceptual_logits(
                torch.cat([img for _, _, img in terms])).split(
                    ref.shape[0])
            for (name, weight, _), pred in zip(terms, logits):
                losses[name] = weight * self.perceptual_distance(pred, ref)
        return losses

    def _chunk_size(self, num: int) -> int:
        return num if self.perceptual_chunk <= 0 else self.perceptual_chunk

    def _separate_term(self, weight: float, img: Tensor, ref: Tensor
                       ) -> Tensor:
        """One perceptual term backpropagated through M on its own.

        Args:
            weight (float): The term's weight.
            img (Tensor): Generated images (in the generators' graph).
            ref (Tensor): M's logits of the matching real images.

        Returns:
            Tensor: The weighted term; its gradient reaches ``img`` (and the
            generators) without M's graph being kept.
        """

        def loss_fn(x: Tensor, sl: slice) -> Tensor:
            return weight * self.perceptual_distance(
                self.perceptual_logits(x), ref[sl])

        scale = loss_scale_of(self._gen_wrapper, img.device)
        value, grad = input_gradient(loss_fn, img, self.perceptual_chunk,
                                     scale)
        if not img.requires_grad:
            return value
        return InjectGradient.apply(img, grad, value)

    def _get_gen_loss(self, outputs: Dict[str, Tensor]
                      ) -> Tuple[Tensor, Dict[str, Tensor]]:
        """CycleGAN's generator loss plus the perceptual terms.

        Args:
            outputs (dict): Forward results of ``train_step``.

        Returns:
            tuple: Total generator loss and the log variables.
        """
        loss_g, log_vars_g = super()._get_gen_loss(outputs)
        per_losses = self._get_perceptual_losses(outputs)
        if per_losses:
            loss_per, log_vars_per = self.parse_losses(per_losses)
            log_vars_per.pop('loss')
            loss_g = loss_g + loss_per
            log_vars_g.update(log_vars_per)
            log_vars_g['loss_per'] = loss_per
            log_vars_g['loss'] = loss_g
        return loss_g, log_vars_g
