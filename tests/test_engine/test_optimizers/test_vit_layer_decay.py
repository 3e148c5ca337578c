"""Layer-wise learning rates of the DINOv2 configs' optimizer."""
import pytest
import torch.nn as nn
from mmengine.optim import OptimWrapper

from mmbdl.engine.optimizers import ViTLayerDecayOptimWrapperConstructor
from mmbdl.registry import MODELS
from mmbdl.utils.errors import ConfigCheckError


class Wrapped(nn.Module):
    """The segmentation sub-module of a BDL model: M under `segmentor.`."""

    def __init__(self):
        super().__init__()
        self.segmentor = nn.Module()
        self.segmentor.backbone = MODELS.build(dict(
            type='DINOv2VisionTransformer', embed_dims=8, num_layers=3,
            num_heads=2, img_size=28))
        self.segmentor.decode_head = nn.Linear(8, 3)


def build(decay=0.5, mult=0.1, model=None):
    ctor = ViTLayerDecayOptimWrapperConstructor(
        dict(type='OptimWrapper',
             optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.01)),
        dict(num_layers=3, decay_rate=decay, backbone_lr_mult=mult))
    return ctor(model or Wrapped())


def lr_of(wrapper, model):
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(p)]: g['lr'] for g in wrapper.optimizer.param_groups
            for p in g['params']}


def test_rates_per_block_stem_and_head():
    model = Wrapped()
    wrapper = build(model=model)
    assert isinstance(wrapper, OptimWrapper)
    lrs = lr_of(wrapper, model)
    assert len(lrs) == len(list(model.parameters()))
    head = 1e-3
    assert lrs['segmentor.decode_head.weight'] == pytest.approx(head)
    for i, factor in enumerate((0.25, 0.5, 1.0)):
        assert lrs[f'segmentor.backbone.layers.{i}.attn.qkv.weight'] == \
            pytest.approx(head * 0.1 * factor)
    for stem in ('cls_token', 'pos_embed', 'patch_embed.projection.weight',
                 'ln1.weight'):
        assert lrs['segmentor.backbone.' + stem] == pytest.approx(
            head * 0.1 * 0.125)
    assert {g['weight_decay'] for g in wrapper.optimizer.param_groups} == \
        {0.01}


def test_no_decay_merges_backbone_groups():
    wrapper = build(decay=1.0)
    assert sorted(g['lr'] for g in wrapper.optimizer.param_groups) == \
        pytest.approx([1e-4, 1e-3])


def test_refusals():
    with pytest.raises(ConfigCheckError, match='decay_rate'):
        ViTLayerDecayOptimWrapperConstructor(
            dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1)),
            dict(num_layers=3))
    with pytest.raises(ConfigCheckError, match='ViT segmentor only'):
        build(model=nn.Sequential(nn.Linear(2, 2)))
