"""Key mapping from the official DINOv2 checkpoints to mmbdl's backbone.

The files ``dinov2_vit{s,b,l}14[_reg4]_pretrain.pth`` of
facebookresearch/dinov2 hold a plain state dict::

    cls_token (1, 1, C), pos_embed (1, 1 + 37 * 37, C), mask_token (1, C),
    register_tokens (1, R, C)             (the _reg4 files only),
    patch_embed.proj.{weight (C, 3, 14, 14), bias},
    blocks.N.{norm1, attn.qkv, attn.proj, ls1.gamma, norm2, mlp.fc1,
              mlp.fc2, ls2.gamma}.*,
    norm.{weight, bias}

(``blocks.K.N.*`` where the blocks were saved in chunks). They map to
:class:`~mmbdl.models.backbones.DINOv2VisionTransformer` (MMSegmentation's
ViT names) under ``backbone.``; ``mask_token`` is kept (VFM-UDA's token
masking uses it; :func:`fit_mask_token` drops it again when it is loaded
into a backbone without one) and any ``head.*`` is dropped.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Tuple

from torch import Tensor

from ..errors import ConfigCheckError

_BLOCK = re.compile(r'^blocks\.(?:\d+\.)?(\d+)\.(.+)$')
_BLOCK_PARTS = {
    'norm1.': 'ln1.',
    'attn.qkv.': 'attn.qkv.',
    'attn.proj.': 'attn.proj.',
    'ls1.gamma': 'ls1.weight',
    'norm2.': 'ln2.',
    'mlp.fc1.': 'ffn.layers.0.0.',
    'mlp.fc2.': 'ffn.layers.1.',
    'ls2.gamma': 'ffn.gamma2.weight',
}
_TOP = {
    'cls_token': 'cls_token',
    'mask_token': 'mask_token',
    'pos_embed': 'pos_embed',
    'register_tokens': 'register_tokens',
    'patch_embed.proj.weight': 'patch_embed.projection.weight',
    'patch_embed.proj.bias': 'patch_embed.projection.bias',
    'norm.weight': 'ln1.weight',
    'norm.bias': 'ln1.bias',
}
_DROPPED = re.compile(r'^head\.')
# backbone arch -> the configs built on it
CONFIGS = {
    'vit-b14': 'configs/bdl/bdl_dinov2-vitb14_1xb1-k2n2_gta5-to-cityscapes-'
    '504x504.py',
    'vit-l14': 'configs/bdl/bdl_dinov2-vitl14_1xb1-k2n2_gta5-to-cityscapes-'
    '504x504.py',
}
# embed width -> (arch, official file)
_BY_WIDTH = {
    384: ('vit-s14', 'dinov2_vits14_pretrain.pth'),
    768: ('vit-b14', 'dinov2_vitb14_pretrain.pth'),
    1024: ('vit-l14', 'dinov2_vitl14_pretrain.pth'),
    1536: ('vit-g14', 'dinov2_vitg14_pretrain.pth'),
}


def is_dinov2(keys) -> bool:
    """Whether the keys are the official DINOv2 layout."""
    keys = set(keys)
    return 'cls_token' in keys and 'patch_embed.proj.weight' in keys and \
        any(_BLOCK.match(k) for k in keys)


def convert_dinov2(state: Dict[str, Tensor]
                   ) -> Tuple['OrderedDict[str, Tensor]', List[str]]:
    """Rename an official DINOv2 state dict to the backbone's keys.

    Args:
        state (dict): The checkpoint's tensors.

    Returns:
        tuple: (``backbone.*`` state dict, dropped keys).

    Raises:
        ConfigCheckError: For keys of another DINOv2 variant (the SwiGLU
            MLP of ViT-g) or of no DINOv2 model.
    """
    out, dropped, unknown = OrderedDict(), [], []
    for key, value in state.items():
        new = _TOP.get(key)
        block = _BLOCK.match(key)
        if new is None and block is not None:
            index, rest = block.groups()
            for old, part in _BLOCK_PARTS.items():
                if rest.startswith(old):
                    new = f'layers.{index}.{part}{rest[len(old):]}'
                    break
        if new is not None:
            out['backbone.' + new] = value
        elif _DROPPED.match(key):
            dropped.append(key)
        else:
            unknown.append(key)
    if unknown:
        raise ConfigCheckError(
            f'not a DINOv2 ViT-S/B/L checkpoint of the official layout: '
            f'{len(unknown)} keys have no place in DINOv2VisionTransformer '
            f'(first: {unknown[:4]}; the SwiGLU MLP of ViT-g is not '
            'supported)')
    return out, dropped


def describe(state: Dict[str, Tensor]) -> dict:
    """Sizes of a converted (backbone-key) DINOv2 state dict."""
    layers = {int(k.split('.')[1]) for k in state if k.startswith('layers.')}
    reg = state.get('register_tokens')
    proj = state.get('patch_embed.projection.weight')
    width = int(state['cls_token'].shape[-1]) if 'cls_token' in state \
        else None
    return dict(
        embed_dims=width,
        num_layers=len(layers),
        num_register_tokens=int(reg.shape[1]) if reg is not None else 0,
        patch_size=int(proj.shape[-1]) if proj is not None else None,
        pos_embed=tuple(state['pos_embed'].shape)
        if 'pos_embed' in state else None)


def check_dinov2_fit(state: Dict[str, Tensor], backbone, source: str) -> None:
    """Refuse DINOv2 weights of another size than ``backbone``.

    Args:
        state (dict): Converted state dict, keys relative to the backbone.
        backbone (DINOv2VisionTransformer): The module to load.
        source (str): The checkpoint, for the message.

    Raises:
        ConfigCheckError: Naming both sizes and shapes and what to use.
    """
    if 'cls_token' not in state:
        return  # not a DINOv2 file: the key check reports it
    theirs = describe(state)
    ours = dict(embed_dims=backbone.embed_dims,
                num_layers=backbone.num_layers,
                num_register_tokens=backbone.num_register_tokens,
                patch_size=backbone.patch_size,
                pos_embed=tuple(backbone.pos_embed.shape))
    if theirs == ours:
        return
    arch, filename = _BY_WIDTH.get(theirs['embed_dims'],
                                   ('an unknown size', None))
    own_arch, own_file = _BY_WIDTH.get(ours['embed_dims'], (None, None))
    if theirs['embed_dims'] != ours['embed_dims'] or \
            theirs['num_layers'] != ours['num_layers']:
        use = CONFIGS.get(arch)
        fix = (f'use {use} for these weights' if use else
               f'set backbone arch={arch!r} for these weights') + \
            (f', or {own_file} for this backbone' if own_file else '')
    elif theirs['num_register_tokens'] != ours['num_register_tokens']:
        fix = (f'set backbone num_register_tokens='
               f'{theirs["num_register_tokens"]} for these weights')
    else:
        fix = (f'set backbone patch_size={theirs["patch_size"]} and '
               f'img_size={theirs["patch_size"]} x the grid side')
    raise ConfigCheckError(
        f'{source}: DINOv2 weights of {arch} (embed_dims '
        f'{theirs["embed_dims"]}, {theirs["num_layers"]} blocks, '
        f'{theirs["num_register_tokens"]} register tokens, pos_embed '
        f'{theirs["pos_embed"]}) do not fit the backbone ({own_arch or ""} '
        f'embed_dims {ours["embed_dims"]}, {ours["num_layers"]} blocks, '
        f'{ours["num_register_tokens"]} register tokens, pos_embed '
        f'{ours["pos_embed"]}); {fix}')


def fit_mask_token(state: Dict[str, Tensor], with_mask_token: bool,
                   source: str) -> None:
    """Fit a converted DINOv2 state dict's ``mask_token`` to the backbone.

    A backbone without a mask token gets the weights as before the token
    was kept: ``mask_token`` is removed from ``state`` (in place). A
    backbone with one refuses a DINOv2 file that lacks it (token masking
    would start from zeros instead of DINOv2's trained token).

    Args:
        state (dict): Converted state dict, keys relative to the backbone.
        with_mask_token (bool): The backbone's ``with_mask_token``.
        source (str): The checkpoint, for the message.

    Raises:
        ConfigCheckError: Naming the checkpoint and the fix.
    """
    if 'cls_token' not in state:
        return  # not a DINOv2 file: the key check reports it
    if not with_mask_token:
        state.pop('mask_token', None)
    elif 'mask_token' not in state:
        raise ConfigCheckError(
            f'{source}: these DINOv2 weights have no mask_token, but '
            'backbone.with_mask_token=True; use the official DINOv2 file '
            '(it holds the trained mask_token) or set '
            'model...backbone.with_mask_token=False and turn token masking '
            "off (the loss term's mask_mode)")
