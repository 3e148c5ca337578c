"""A tiny DINOv2 checkpoint in the official layout and a reference forward.

The reference is written from the model's equations over the official key
names (not from mmbdl's modules), so the backbone's features can be
compared with it after the checkpoint went through the converter.
"""
import math

import torch
import torch.nn.functional as F


def official_state(embed=32, depth=2, grid=4, patch=14, registers=0,
                   chunks=0, seed=0):
    """Random tensors under the official DINOv2 keys.

    Layer scales are random (not 1e-5) so that they visibly matter.
    ``chunks`` > 0 saves the blocks as ``blocks.K.N.*`` (block_chunks).
    """
    gen = torch.Generator().manual_seed(seed)

    def rnd(*shape, scale=0.2):
        return torch.randn(*shape, generator=gen) * scale

    state = {
        'cls_token': rnd(1, 1, embed),
        'pos_embed': rnd(1, 1 + grid * grid, embed),
        'mask_token': rnd(1, embed),
        'patch_embed.proj.weight': rnd(embed, 3, patch, patch, scale=0.05),
        'patch_embed.proj.bias': rnd(embed),
        'norm.weight': 1 + rnd(embed),
        'norm.bias': rnd(embed),
    }
    if registers:
        state['register_tokens'] = rnd(1, registers, embed)
    per_chunk = math.ceil(depth / chunks) if chunks else None
    for n in range(depth):
        pre = f'blocks.{n // per_chunk}.{n}.' if chunks else f'blocks.{n}.'
        state.update({
            pre + 'norm1.weight': 1 + rnd(embed),
            pre + 'norm1.bias': rnd(embed),
            pre + 'attn.qkv.weight': rnd(3 * embed, embed),
            pre + 'attn.qkv.bias': rnd(3 * embed),
            pre + 'attn.proj.weight': rnd(embed, embed),
            pre + 'attn.proj.bias': rnd(embed),
            pre + 'ls1.gamma': 0.5 + rnd(embed),
            pre + 'norm2.weight': 1 + rnd(embed),
            pre + 'norm2.bias': rnd(embed),
            pre + 'mlp.fc1.weight': rnd(4 * embed, embed),
            pre + 'mlp.fc1.bias': rnd(4 * embed),
            pre + 'mlp.fc2.weight': rnd(embed, 4 * embed),
            pre + 'mlp.fc2.bias': rnd(embed),
            pre + 'ls2.gamma': 0.5 + rnd(embed),
        })
    return state


def _norm(x, state, name):
    return F.layer_norm(x, x.shape[-1:], state[name + '.weight'],
                        state[name + '.bias'], eps=1e-6)


def _block_keys(state, n):
    prefixes = {k[:k.index('.norm1.weight') + 1] for k in state
                if k.endswith('.norm1.weight')}
    pre, = [p for p in prefixes if p.rstrip('.').split('.')[-1] == str(n)]
    return pre


def reference_features(state, img, num_heads, out_blocks, offset=0.1):
    """Normalised patch tokens of ``out_blocks`` as (B, C, h, w) maps.

    Patch projection (a stride-p convolution), class token, positional
    embedding resized bicubically with the scale factor (grid + offset) /
    pretraining grid, register tokens after the class token (without a
    positional embedding), then per block
    ``x += g1 * Attn(LN1(x))``, ``x += g2 * MLP(LN2(x))`` and the final LN.
    """
    weight = state['patch_embed.proj.weight']
    patch = weight.shape[-1]
    tokens = F.conv2d(img, weight, state['patch_embed.proj.bias'],
                      stride=patch)
    b, c, h, w = tokens.shape
    tokens = tokens.flatten(2).transpose(1, 2)
    pos = state['pos_embed']
    side = round(math.sqrt(pos.shape[1] - 1))
    grid = pos[:, 1:].reshape(1, side, side, c).permute(0, 3, 1, 2)
    if (h, w) != (side, side):
        grid = F.interpolate(
            grid, scale_factor=((h + offset) / side, (w + offset) / side),
            mode='bicubic', align_corners=False)
    grid = grid.flatten(2).transpose(1, 2)
    x = torch.cat([(state['cls_token'] + pos[:, :1]).expand(b, -1, -1),
                   tokens + grid], dim=1)
    skip = 1
    if 'register_tokens' in state:
        reg = state['register_tokens']
        x = torch.cat([x[:, :1], reg.expand(b, -1, -1), x[:, 1:]], dim=1)
        skip += reg.shape[1]
    depth = len({k for k in state if k.endswith('.norm1.weight')})
    head = c // num_heads
    feats = []
    for n in range(depth):
        pre = _block_keys(state, n)
        y = _norm(x, state, pre + 'norm1')
        qkv = y @ state[pre + 'attn.qkv.weight'].T + state[
            pre + 'attn.qkv.bias']
        q, k, v = qkv.reshape(b, -1, 3, num_heads, head).permute(
            2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(head), -1)
        y = (att @ v).transpose(1, 2).reshape(b, -1, c)
        y = y @ state[pre + 'attn.proj.weight'].T + state[
            pre + 'attn.proj.bias']
        x = x + state[pre + 'ls1.gamma'] * y
        y = _norm(x, state, pre + 'norm2')
        y = F.gelu(y @ state[pre + 'mlp.fc1.weight'].T +
                   state[pre + 'mlp.fc1.bias'])
        y = y @ state[pre + 'mlp.fc2.weight'].T + state[pre + 'mlp.fc2.bias']
        x = x + state[pre + 'ls2.gamma'] * y
        if n in out_blocks:
            out = _norm(x, state, 'norm')[:, skip:]
            feats.append(out.reshape(b, h, w, c).permute(0, 3, 1, 2))
    return feats
