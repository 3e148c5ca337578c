"""DINOv2's Vision Transformer as an MMSegmentation backbone.

MMSegmentation's :class:`~mmseg.models.backbones.VisionTransformer` with
what DINOv2 (Oquab et al., 2023) changes: 14x14 patches with a biased patch
projection, LayerNorm eps 1e-6, layer scale on both residual branches, the
positional embedding of the 518x518 pretraining grid (37x37 patches)
interpolated to the input as DINOv2 does it, optional register tokens
(Darcet et al., 2024) and one fused ``qkv`` projection per attention. The
official checkpoints are converted on load
(:mod:`mmbdl.utils.weights.dinov2_state_dict`).

Inputs must be multiples of the patch size (DINOv2's patch embedding does
not pad); anything else is refused with the nearest valid sizes. Test-time
images are padded to a multiple by the data preprocessor's
``test_cfg=dict(size_divisor=14)`` (bottom and right, cut off the logits
again by MMSegmentation's post-processing).

Two options give VFM-UDA's network (Englert et al., 2024):

- ``input_resize``: the square input is resized bilinearly to this size
  before the patch embedding (:func:`vfm_input_size`: 1.1 x the crop, down
  to whole patches: 1120 for 1024 crops); the decode head's ``loss`` and
  ``predict`` bring the logits back to the label / image size.
- ``with_mask_token``: DINOv2's ``mask_token`` is kept (loaded from the
  official file), and inside ``with backbone.token_masking(ratio):`` each
  patch token of a training forward is replaced by it with probability
  ``ratio`` (after the patch embedding, before the class token and the
  positional embedding).
"""
import contextlib
import math
from typing import Iterator, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn.bricks.drop import build_dropout
from mmcv.cnn.bricks.scale import LayerScale
from mmengine.model import BaseModule, ModuleList
from mmengine.model.weight_init import trunc_normal_
from mmseg.models.backbones.vit import (TransformerEncoderLayer,
                                        VisionTransformer)
from torch import Tensor

from mmbdl.registry import MODELS
from mmbdl.utils.errors import ConfigCheckError
from mmbdl.utils.weights import check_dinov2_fit, fit_mask_token
from ..utils.lora import add_lora, freeze_all_but_lora, reset_lora

# name -> (embed_dims, num_layers, num_heads) of the official models
DINOV2_ARCHS = {
    'vit-s14': (384, 12, 6),
    'vit-b14': (768, 12, 12),
    'vit-l14': (1024, 24, 16),
}


def nearest_multiples(size: int, divisor: int) -> Tuple[int, ...]:
    """The positive multiples of ``divisor`` next to ``size`` (below,
    above)."""
    below = size // divisor * divisor
    return tuple(m for m in (below, below + divisor) if m > 0)


def vfm_input_size(crop: int, patch_size: int = 14,
                   scale: float = 1.1) -> int:
    """VFM-UDA's ViT input side for square crops of side ``crop``.

    ``int(crop * scale)`` rounded down to whole patches (1024 -> 1120,
    512 -> 560 for 14-pixel patches); the value of the backbone's
    ``input_resize``.

    Args:
        crop (int): Side of the (square) training crop.
        patch_size (int): Defaults to 14.
        scale (float): Defaults to 1.1 (the release's).

    Returns:
        int: A positive multiple of ``patch_size``.

    Raises:
        ConfigCheckError: If the size is below one patch.
    """
    size = int(crop * scale) // patch_size * patch_size \
        if patch_size > 0 else 0
    if size <= 0:
        raise ConfigCheckError(
            f'vfm_input_size: crop {crop} x scale {scale} is smaller than '
            f'one patch ({patch_size}); use a larger crop')
    return size


class DINOv2Attention(BaseModule):
    """Multi-head self-attention with one fused ``qkv`` projection.

    Args:
        embed_dims (int): Token width.
        num_heads (int): Heads; ``embed_dims`` must divide by it.
        qkv_bias (bool): Bias of the ``qkv`` projection. Defaults to True.
        attn_drop (float): Dropout on the attention weights. Defaults to 0.
        proj_drop (float): Dropout after the output projection. Defaults
            to 0.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 qkv_bias: bool = True,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ConfigCheckError(
                f'embed_dims {embed_dims} is not a multiple of num_heads '
                f'{num_heads}')
        self.num_heads = num_heads
        self.attn_drop = attn_drop
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads,
                                      c // self.num_heads).permute(
                                          2, 0, 3, 1, 4).unbind(0)
        x = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.attn_drop if self.training else 0.)
        return self.proj_drop(self.proj(x.transpose(1, 2).reshape(b, n, c)))


class DINOv2Layer(TransformerEncoderLayer):
    """A ViT block with layer scale on both branches (DINOv2's ``Block``).

    ``x + drop_path(ls1 * attn(norm1(x)))``, then
    ``x + drop_path(ls2 * mlp(norm2(x)))``; ``ls2`` is MMCV's ``FFN``
    layer scale (``ffn.gamma2``).

    Args:
        embed_dims (int): Token width.
        num_heads (int): Attention heads.
        feedforward_channels (int): Hidden width of the MLP.
        layer_scale_init_value (float): Initial layer scale (the trained
            value comes with the weights); 0 switches layer scale off.
            Defaults to 1e-5.
        with_cp (bool): Checkpoint the block in training. Defaults to False.
        **kwargs: The other arguments of ``TransformerEncoderLayer``.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 feedforward_channels: int,
                 layer_scale_init_value: float = 1e-5,
                 drop_path_rate: float = 0.,
                 with_cp: bool = False,
                 **kwargs) -> None:
        super().__init__(
            embed_dims=embed_dims,
            num_heads=num_heads,
            feedforward_channels=feedforward_channels,
            drop_path_rate=drop_path_rate,
            attn_cfg=dict(),
            ffn_cfg=dict(layer_scale_init_value=layer_scale_init_value),
            with_cp=with_cp,
            **kwargs)
        self.ls1 = LayerScale(embed_dims, scale=layer_scale_init_value) \
            if layer_scale_init_value > 0 else nn.Identity()
        self.drop_path = build_dropout(
            dict(type='DropPath', drop_prob=drop_path_rate)) \
            if drop_path_rate > 0 else nn.Identity()

    def build_attn(self, attn_cfg: dict) -> None:
        self.attn = DINOv2Attention(
            attn_cfg['embed_dims'], attn_cfg['num_heads'],
            qkv_bias=attn_cfg['bias'], attn_drop=attn_cfg['attn_drop'],
            proj_drop=attn_cfg['proj_drop'])

    def _inner_forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.ls1(self.attn(self.norm1(x))))
        return self.ffn(self.norm2(x), identity=x)

    def forward(self, x: Tensor) -> Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        return self._inner_forward(x)


@MODELS.register_module()
class DINOv2VisionTransformer(VisionTransformer):
    """DINOv2 ViT backbone (official layout, converted on load).

    Outputs the patch tokens of the blocks in ``out_indices`` as
    ``(N, C, H/14, W/14)`` maps, each through the final LayerNorm (DINOv2's
    ``get_intermediate_layers(norm=True)``).

    Args:
        arch (str): 'vit-s14', 'vit-b14' or 'vit-l14' (widths of
            :data:`DINOV2_ARCHS`); ignored where ``embed_dims``,
            ``num_layers`` and ``num_heads`` are all given. Defaults to
            'vit-b14'.
        embed_dims, num_layers, num_heads (int, optional): Explicit sizes
            (e.g. a tiny test model).
        img_size (int): Size of the positional-embedding grid (the
            pretraining crop, 518 = 37 patches). Defaults to 518.
        patch_size (int): Defaults to 14.
        out_indices (int | Sequence[int]): Blocks whose output is returned
            (-1: the last). Defaults to -1.
        num_register_tokens (int): Register tokens (4 in the ``_reg4``
            checkpoints). Defaults to 0.
        layer_scale_init_value (float): Defaults to 1e-5 (DINOv2's).
        interpolate_offset (float): DINOv2's offset of the
            positional-embedding scale factor (0.1; 0 interpolates to the
            grid size exactly). Defaults to 0.1.
        interpolate_antialias (bool): Defaults to False (DINOv2's).
        with_cp (bool): Checkpoint every block in training (gradient
            checkpointing). Defaults to False.
        lora_cfg (dict, optional): ``dict(rank=8, alpha=8, dropout=0.)``
            puts trainable low-rank adapters on every ``qkv`` projection and
            freezes the rest of the backbone. Defaults to None (full
            fine-tuning).
        with_mask_token (bool): Keep DINOv2's ``mask_token`` (shape
            ``(1, embed_dims)``, zeros before loading) for
            :meth:`token_masking`. A DINOv2 file without one is then
            refused. Defaults to False (the token is dropped on load).
        input_resize (int, optional): Resize the (square) input to this
            side, bilinear, before the patch embedding (VFM-UDA:
            :func:`vfm_input_size` of the crop); a multiple of
            ``patch_size``. Non-square inputs are then refused. Defaults
            to None (no resizing).
        qkv_bias, drop_rate, attn_drop_rate, drop_path_rate, norm_cfg,
            act_cfg, mlp_ratio: As MMSegmentation's ``VisionTransformer``
            (DINOv2's defaults: LayerNorm eps 1e-6, GELU, MLP ratio 4).
        **kwargs: Other arguments of MMSegmentation's ``VisionTransformer``
            (``norm_eval``, ``frozen_exclude``, ``init_cfg``).
    """

    def __init__(self,
                 arch: str = 'vit-b14',
                 embed_dims: Optional[int] = None,
                 num_layers: Optional[int] = None,
                 num_heads: Optional[int] = None,
                 img_size: int = 518,
                 patch_size: int = 14,
                 mlp_ratio: int = 4,
                 out_indices: Union[int, Sequence[int]] = -1,
                 qkv_bias: bool = True,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 num_register_tokens: int = 0,
                 layer_scale_init_value: float = 1e-5,
                 interpolate_offset: float = 0.1,
                 interpolate_antialias: bool = False,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 act_cfg: dict = dict(type='GELU'),
                 with_cp: bool = False,
                 lora_cfg: Optional[dict] = None,
                 with_mask_token: bool = False,
                 input_resize: Optional[int] = None,
                 **kwargs) -> None:
        sizes = (embed_dims, num_layers, num_heads)
        if None in sizes:
            if arch not in DINOV2_ARCHS:
                raise ConfigCheckError(
                    f'DINOv2VisionTransformer: unknown arch {arch!r}; use '
                    f'one of {sorted(DINOV2_ARCHS)} or give embed_dims, '
                    'num_layers and num_heads')
            sizes = tuple(s if s is not None else a
                          for s, a in zip(sizes, DINOV2_ARCHS[arch]))
        embed_dims, num_layers, num_heads = sizes
        # the parent builds the stem, tokens and final norm; the blocks
        # are DINOv2's (built below)
        super().__init__(
            img_size=img_size, patch_size=patch_size, patch_pad=0,
            embed_dims=embed_dims, num_layers=0, num_heads=num_heads,
            mlp_ratio=mlp_ratio, out_indices=[], qkv_bias=qkv_bias,
            drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
            with_cls_token=True, output_cls_token=False, norm_cfg=norm_cfg,
            act_cfg=act_cfg, patch_norm=False, patch_bias=True,
            pre_norm=False, final_norm=True, with_cp=with_cp, **kwargs)
        self.arch = arch
        self.embed_dims = embed_dims
        self.num_layers = num_layers
        self.num_register_tokens = num_register_tokens
        self.interpolate_offset = interpolate_offset
        self.interpolate_antialias = interpolate_antialias
        indices = [out_indices] if isinstance(out_indices, int) \
            else list(out_indices)
        self.out_indices = [i % num_layers for i in indices]
        if any(not -num_layers <= i < num_layers for i in indices):
            raise ConfigCheckError(
                f'out_indices {out_indices} outside the {num_layers} blocks')
        # stochastic depth rising linearly over the blocks (plain floats:
        # builds on the meta device too)
        dpr = [drop_path_rate * i / max(num_layers - 1, 1)
               for i in range(num_layers)]
        self.layers = ModuleList([
            DINOv2Layer(
                embed_dims=embed_dims, num_heads=num_heads,
                feedforward_channels=mlp_ratio * embed_dims,
                layer_scale_init_value=layer_scale_init_value,
                drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
                drop_path_rate=dpr[i], qkv_bias=qkv_bias, act_cfg=act_cfg,
                norm_cfg=norm_cfg, with_cp=with_cp, batch_first=True)
            for i in range(num_layers)
        ])
        if num_register_tokens:
            self.register_tokens = nn.Parameter(
                torch.zeros(1, num_register_tokens, embed_dims))
        self.with_mask_token = bool(with_mask_token)
        # DINOv2's shape (1, C); a plain None without it (no state-dict key)
        self.mask_token = nn.Parameter(torch.zeros(1, embed_dims)) \
            if with_mask_token else None
        self._mask_ratio = 0.
        if input_resize is not None and (
                isinstance(input_resize, bool)
                or not isinstance(input_resize, int) or input_resize <= 0
                or input_resize % patch_size):
            valid = nearest_multiples(max(int(input_resize), 1),
                                      patch_size) \
                if isinstance(input_resize, (int, float)) else (patch_size, )
            raise ConfigCheckError(
                f'DINOv2VisionTransformer: input_resize={input_resize!r} is '
                f'not a positive multiple of patch_size {patch_size}; '
                f'nearest valid sizes {valid} (vfm_input_size(crop) gives '
                f'VFM-UDA\'s: 1120 for 1024 crops)')
        self.input_resize = input_resize
        self.lora_cfg = lora_cfg
        if lora_cfg is not None:
            unknown = set(lora_cfg) - {'rank', 'alpha', 'dropout'}
            if unknown:
                raise ConfigCheckError(
                    f'lora_cfg: unknown keys {sorted(unknown)}; use rank, '
                    'alpha and dropout, e.g. dict(rank=8, alpha=8)')
            add_lora(self.layers, 'qkv', **lora_cfg)
            freeze_all_but_lora(self)
        self._freeze()

    def init_weights(self) -> None:
        """DINOv2's random init; then a ``Pretrained`` ``init_cfg`` (the
        checked one of mmbdl's scope) loads the weights."""
        trunc_normal_(self.pos_embed, std=.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        if self.num_register_tokens:
            nn.init.normal_(self.register_tokens, std=1e-6)
        if self.mask_token is not None:
            nn.init.zeros_(self.mask_token)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        reset_lora(self)
        if self.init_cfg is not None:
            BaseModule.init_weights(self)

    def train(self, mode: bool = True) -> 'DINOv2VisionTransformer':
        """MMSegmentation's ``train`` (``norm_eval``), returning the module
        as ``nn.Module.train`` does (``model.eval()`` chains)."""
        super().train(mode)
        return self

    def check_pretrained(self, state: dict, checkpoint: str) -> None:
        """Refuse DINOv2 weights of another size (called by the checked
        ``Pretrained`` init with the keys relative to this module).

        Also fits the ``mask_token``: it is removed from ``state`` (in
        place, before the keys are matched) for a backbone without one, and
        a DINOv2 file without it is refused where ``with_mask_token``.
        """
        check_dinov2_fit(state, self, checkpoint)
        fit_mask_token(state, self.with_mask_token, checkpoint)

    @contextlib.contextmanager
    def token_masking(self, ratio: float) -> Iterator[
            'DINOv2VisionTransformer']:
        """Mask patch tokens with ``mask_token`` in the forwards inside.

        ``with backbone.token_masking(0.7): feats = backbone(x)``: in
        training mode each patch token is replaced by ``mask_token`` where
        ``torch.rand(B, L) < ratio`` (VFM-UDA's token masking); in eval mode
        and outside the block nothing changes.

        Args:
            ratio (float): Masking probability in [0, 1]; 0 masks nothing.

        Yields:
            DINOv2VisionTransformer: This backbone.

        Raises:
            ConfigCheckError: Without a ``mask_token`` or for a ratio
                outside [0, 1].
        """
        if self.mask_token is None:
            raise ConfigCheckError(
                'token masking needs DINOv2\'s mask_token: set '
                'model...backbone.with_mask_token=True (and load the '
                'official DINOv2 weights, which hold it)')
        if not 0. <= float(ratio) <= 1.:
            raise ConfigCheckError(
                f'token masking ratio {ratio} is outside [0, 1]; use e.g. '
                '0.7')
        previous, self._mask_ratio = self._mask_ratio, float(ratio)
        try:
            yield self
        finally:
            self._mask_ratio = previous

    def mask_patch_tokens(self, x: Tensor) -> Tensor:
        """Patch tokens ``(B, L, C)`` with the active token masking.

        Returns ``x`` itself outside :meth:`token_masking`, in eval mode or
        for a ratio of 0; otherwise a new tensor with ``mask_token`` (in
        ``x``'s dtype) where ``torch.rand(B, L) < ratio``.
        """
        ratio = self._mask_ratio
        if not ratio or not self.training:
            return x
        mask = torch.rand(x.shape[:2], device=x.device) < ratio
        return torch.where(mask.unsqueeze(-1), self.mask_token.to(x.dtype),
                           x)

    def resize_input(self, inputs: Tensor) -> Tensor:
        """The input at ``input_resize`` (bilinear, ``align_corners=False``);
        unchanged without ``input_resize``.

        Raises:
            ConfigCheckError: For a non-square input with ``input_resize``.
        """
        size = self.input_resize
        if size is None:
            return inputs
        height, width = inputs.shape[-2:]
        if height != width:
            raise ConfigCheckError(
                f'DINOv2 input {height}x{width} (h x w) is not square, but '
                f'backbone.input_resize={size} (VFM-UDA\'s recipe) needs '
                'square inputs: train on square crops and test with '
                "test_cfg=dict(mode='slide', crop_size=(s, s), stride=...) "
                'of a square crop_size')
        if (height, width) == (size, size):
            return inputs
        return F.interpolate(inputs, size=(size, size), mode='bilinear',
                             align_corners=False)

    def check_crop(self, height: int, width: int) -> None:
        """Refuse an input that is not a multiple of the patch size."""
        p = self.patch_size
        if height % p or width % p:
            h, w = nearest_multiples(height, p), nearest_multiples(width, p)
            raise ConfigCheckError(
                f'DINOv2 input {height}x{width} (h x w) is not a multiple '
                f'of the patch size {p}; nearest valid heights {h}, widths '
                f'{w}. Use such a crop in the training pipelines and '
                f'test_cfg=dict(size_divisor={p}) in the data preprocessor '
                'for whole-image testing')

    def interpolate_pos_embed(self, grid: Tuple[int, int]) -> Tensor:
        """The positional embedding for a ``grid`` of patches (h, w).

        DINOv2's rule: bicubic, the scale factor ``(grid + offset) /
        pretraining grid`` (not the target size), no antialiasing; the
        class token's embedding is kept.
        """
        pos = self.pos_embed
        num = pos.shape[1] - 1
        if num == grid[0] * grid[1] and grid[0] == grid[1]:
            return pos
        side = int(math.sqrt(num))
        patch = pos[:, 1:].float().reshape(1, side, side, -1).permute(
            0, 3, 1, 2)
        if self.interpolate_offset:
            kwargs = dict(scale_factor=tuple(
                (g + self.interpolate_offset) / side for g in grid))
        else:
            kwargs = dict(size=grid)
        patch = F.interpolate(patch, mode='bicubic',
                              antialias=self.interpolate_antialias, **kwargs)
        assert tuple(patch.shape[-2:]) == tuple(grid), patch.shape
        patch = patch.permute(0, 2, 3, 1).reshape(1, -1, pos.shape[-1])
        return torch.cat((pos[:, :1].float(), patch), dim=1).to(pos.dtype)

    def forward(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        inputs = self.resize_input(inputs)
        b, _, height, width = inputs.shape
        self.check_crop(height, width)
        x, grid = self.patch_embed(inputs)
        x = self.mask_patch_tokens(x)
        x = torch.cat((self.cls_token.expand(b, -1, -1), x), dim=1)
        x = self.drop_after_pos(
            x + self.interpolate_pos_embed(tuple(grid)).to(x.dtype))
        skip = 1 + self.num_register_tokens
        if self.num_register_tokens:
            x = torch.cat((x[:, :1], self.register_tokens.expand(b, -1, -1),
                           x[:, 1:]), dim=1)
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in self.out_indices:
                out = self.norm1(x)[:, skip:]
                outs.append(out.reshape(b, grid[0], grid[1], -1).permute(
                    0, 3, 1, 2).contiguous())
        return tuple(outs)
