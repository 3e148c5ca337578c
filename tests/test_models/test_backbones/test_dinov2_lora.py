"""LoRA switch of the DINOv2 backbone: frozen ViT, trainable adapters."""
import pytest
import torch
from mmengine.optim import build_optim_wrapper

from mmbdl.models.utils.lora import LoRALinear
from mmbdl.registry import MODELS
from mmbdl.utils.errors import ConfigCheckError

LORA = dict(rank=4, alpha=8)


def segmentor(**backbone):
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='BDLEncoderDecoder',
        backbone=dict(type='DINOv2VisionTransformer', embed_dims=32,
                      num_layers=2, num_heads=2, img_size=56, **backbone),
        decode_head=dict(
            type='SETRUPHead', in_channels=32, channels=8, num_convs=2,
            up_scale=2, kernel_size=3, num_classes=3, align_corners=False,
            norm_cfg=dict(type='BN', requires_grad=True),
            loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0))))
    model.init_weights()
    return model


def test_only_adapters_and_head_get_gradients():
    model = segmentor(lora_cfg=LORA).train()
    img = torch.randn(2, 3, 28, 28)
    model.encode_decode(img, [dict(img_shape=(28, 28))] * 2).sum().backward()
    got = {n for n, p in model.named_parameters() if p.grad is not None}
    lora = {n for n in got if n.startswith('backbone.')}
    assert lora == {f'backbone.layers.{i}.attn.qkv.lora_{ab}'
                    for i in range(2) for ab in 'AB'}
    head = {n for n, _ in model.decode_head.named_parameters()}
    assert got - lora == {'decode_head.' + n for n in head}
    assert all(not p.requires_grad for n, p in model.named_parameters()
               if n.startswith('backbone.') and 'lora_' not in n)
    # the optimizer sees the adapters and the head only
    optim = build_optim_wrapper(model, dict(
        type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3)))
    sizes = sum(p.numel() for g in optim.param_groups for p in g['params']
                if p.requires_grad)
    assert sizes == sum(p.numel() for n, p in model.named_parameters()
                        if n in got)


def test_lora_off_equals_plain_and_fresh_adapter_changes_nothing():
    plain, off = segmentor(), segmentor(lora_cfg=None)
    assert plain.state_dict().keys() == off.state_dict().keys()
    for k, v in plain.state_dict().items():
        assert torch.equal(v, off.state_dict()[k]), k
    lora = segmentor(lora_cfg=LORA)
    assert isinstance(lora.backbone.layers[0].attn.qkv, LoRALinear)
    assert not isinstance(plain.backbone.layers[0].attn.qkv, LoRALinear)
    # same base weights (loadable from the plain model) + zero update
    missing, unexpected = lora.load_state_dict(plain.state_dict(),
                                               strict=False)
    assert unexpected == [] and all('lora_' in k for k in missing)
    img = torch.randn(1, 3, 28, 42)
    metas = [dict(img_shape=(28, 42))]
    plain.eval(), lora.eval()
    with torch.no_grad():
        ref = plain.encode_decode(img, metas)
        torch.testing.assert_close(lora.encode_decode(img, metas), ref)
        # a trained adapter is a low-rank change of qkv
        qkv = lora.backbone.layers[0].attn.qkv
        qkv.lora_B.normal_()
        assert not torch.allclose(lora.encode_decode(img, metas), ref)
        x = torch.randn(5, 32)
        delta = qkv(x) - torch.nn.functional.linear(x, qkv.weight, qkv.bias)
        assert torch.linalg.matrix_rank(delta) <= LORA['rank']


def test_unknown_lora_key_refused():
    with pytest.raises(ConfigCheckError, match="unknown keys \\['r'\\]"):
        segmentor(lora_cfg=dict(r=8))
