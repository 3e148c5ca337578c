"""DINOv2 ViT backbone: official weights converted on load, exact features.

A tiny ViT (embed 32, 2 blocks, 2 heads, a 4x4 pretraining grid) is saved
in the official checkpoint layout, loaded through the checked ``Pretrained``
init (``bdl://<file>``, layout detected) and compared with a reference
forward of the same tensors (tests/dinov2_tiny.py).
"""
import types

import pytest
import torch
from dinov2_tiny import official_state, reference_features

from mmbdl.engine.hooks.weights_check_hook import backbone_init_source
from mmbdl.models.translators.perceptual_memory import checkpoint_units
from mmbdl.models.utils import PRETRAINED_ATTR
from mmbdl.registry import MODELS
from mmbdl.utils.errors import ConfigCheckError
from mmbdl.utils.weights import check_dinov2_fit, convert_dinov2

TINY = dict(type='DINOv2VisionTransformer', embed_dims=32, num_layers=2,
            num_heads=2, img_size=56, out_indices=(0, 1))


def build(path=None, **kwargs):
    cfg = dict(TINY, **kwargs)
    if path is not None:
        cfg['init_cfg'] = dict(type='Pretrained', checkpoint=f'bdl://{path}',
                               prefix='backbone.')
    model = MODELS.build(cfg)
    model.init_weights()
    return model.eval()


@pytest.fixture
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv('MMBDL_OFFLINE', '1')
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    return tmp_path


@pytest.mark.parametrize('registers,chunks', [(0, 0), (2, 0), (0, 2)])
@pytest.mark.parametrize('size', [(56, 56), (42, 70)])
def test_loaded_features_match_reference(offline, registers, chunks, size):
    state = official_state(registers=registers, chunks=chunks)
    path = offline / 'dinov2_tiny_pretrain.pth'
    torch.save(state, path)
    model = build(path, num_register_tokens=registers)
    assert getattr(model, PRETRAINED_ATTR) == f'bdl://{path}'
    img = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = model(img)
    ref = reference_features(state, img, num_heads=2, out_blocks=(0, 1))
    assert [tuple(o.shape) for o in ours] == [
        (2, 32, size[0] // 14, size[1] // 14)] * 2
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_positional_embedding_follows_dinov2_rule(offline):
    """The offset-0.1 scale factor gives other values than resizing to the
    grid size: the rule matters and the backbone uses DINOv2's."""
    state = official_state()
    torch.save(state, offline / 'w.pth')
    model = build(offline / 'w.pth')
    offset = model.interpolate_pos_embed((3, 5))
    model.interpolate_offset = 0
    exact = model.interpolate_pos_embed((3, 5))
    assert offset.shape == exact.shape == (1, 16, 32)
    assert not torch.allclose(offset, exact, atol=1e-3)
    # the pretraining grid itself is used as it is
    assert model.interpolate_pos_embed((4, 4)) is model.pos_embed


def test_converter_keys_and_dropped():
    state = official_state(registers=4)
    state['head.weight'] = torch.zeros(2, 32)
    out, dropped = convert_dinov2(state)
    assert dropped == ['head.weight']
    assert len(out) == len(state) - 1
    assert torch.equal(out['backbone.mask_token'], state['mask_token'])
    assert torch.equal(out['backbone.layers.1.ffn.gamma2.weight'],
                       state['blocks.1.ls2.gamma'])
    assert torch.equal(out['backbone.layers.0.ls1.weight'],
                       state['blocks.0.ls1.gamma'])
    assert torch.equal(out['backbone.ln1.weight'], state['norm.weight'])
    assert torch.equal(out['backbone.patch_embed.projection.weight'],
                       state['patch_embed.proj.weight'])
    assert 'backbone.register_tokens' in out
    # every converted key is a key of the backbone (with the mask token;
    # without it the token is the one key more, removed on load)
    keys = {k[len('backbone.'):] for k in out}
    model = build(num_register_tokens=4, with_mask_token=True)
    assert keys == set(model.state_dict())
    plain = build(num_register_tokens=4)
    assert keys - set(plain.state_dict()) == {'mask_token'}


def test_converter_refuses_other_layouts():
    state = official_state()
    state['blocks.0.mlp.w12.weight'] = torch.zeros(2, 2)  # ViT-g SwiGLU
    with pytest.raises(ConfigCheckError, match='SwiGLU'):
        convert_dinov2(state)


def test_wrong_size_refused_with_shapes_and_config(offline):
    torch.save(official_state(embed=48), offline / 'wide.pth')
    with pytest.raises(ConfigCheckError) as err:
        build(offline / 'wide.pth')
    msg = str(err.value)
    assert '(1, 17, 48)' in msg and '(1, 17, 32)' in msg
    # the official sizes name the weights and the config to use
    with torch.device('meta'):
        vitb = MODELS.build(dict(type='DINOv2VisionTransformer',
                                 arch='vit-b14'))
    small = {'cls_token': torch.empty(1, 1, 384, device='meta'),
             'pos_embed': torch.empty(1, 1370, 384, device='meta'),
             'patch_embed.projection.weight': torch.empty(
                 384, 3, 14, 14, device='meta')}
    small.update({f'layers.{n}.ln1.weight': torch.empty(384, device='meta')
                  for n in range(12)})
    with pytest.raises(ConfigCheckError) as err:
        check_dinov2_fit(small, vitb, 'dinov2_vits14_pretrain.pth')
    msg = str(err.value)
    assert 'vit-s14' in msg and '(1, 1370, 384)' in msg
    assert '(1, 1370, 768)' in msg
    assert "arch='vit-s14'" in msg and 'dinov2_vitb14_pretrain.pth' in msg
    large = dict(small)
    large.update({k: torch.empty(*v.shape[:-1], 1024, device='meta')
                  if k != 'patch_embed.projection.weight' else v
                  for k, v in small.items()})
    large.update({f'layers.{n}.ln1.weight': torch.empty(1024, device='meta')
                  for n in range(24)})
    with pytest.raises(ConfigCheckError,
                       match='bdl_dinov2-vitl14_1xb1-k2n2_gta5-to-'):
        check_dinov2_fit(large, vitb, 'dinov2_vitl14_pretrain.pth')


def test_register_token_mismatch_refused(offline):
    torch.save(official_state(registers=4), offline / 'reg.pth')
    with pytest.raises(ConfigCheckError, match='num_register_tokens=4'):
        build(offline / 'reg.pth')


def test_crop_not_multiple_of_14_refused():
    model = build()
    with pytest.raises(ConfigCheckError) as err:
        model(torch.zeros(1, 3, 50, 56))
    assert '(42, 56)' in str(err.value) and 'size_divisor=14' in str(
        err.value)


def tiny_segmentor(**backbone):
    """An EncoderDecoder with the tiny ViT and the configs' SETR head."""
    return MODELS.build(dict(
        type='BDLEncoderDecoder',
        backbone=dict(TINY, out_indices=-1, **backbone),
        decode_head=dict(
            type='SETRUPHead', in_channels=32, channels=8, num_convs=2,
            up_scale=2, kernel_size=3, num_classes=3, align_corners=False,
            norm_cfg=dict(type='BN', requires_grad=True),
            loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0))))


def test_random_init_is_not_pretrained(offline):
    """The loop's random-init refusal reads the mark of the checked init:
    a DINOv2 backbone without weights has none, a loaded one its file."""
    seg = tiny_segmentor()
    seg.init_weights()
    assert backbone_init_source(seg) is None
    torch.save(official_state(), offline / 'w.pth')
    seg = tiny_segmentor(init_cfg=dict(
        type='Pretrained', checkpoint=f'bdl://{offline / "w.pth"}',
        prefix='backbone.'))
    seg.init_weights()
    assert backbone_init_source(seg) == f'bdl://{offline / "w.pth"}'


def test_gradient_checkpointing_same_gradients():
    torch.manual_seed(0)
    plain = build().train()
    ckpt = build(with_cp=True).train()
    ckpt.load_state_dict(plain.state_dict())
    img = torch.randn(1, 3, 28, 42)
    grads = []
    for model in (plain, ckpt):
        model.zero_grad()
        sum(o.square().sum() for o in model(img)).backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)
    # the perceptual-memory path checkpoints the ViT blocks one by one
    seg = types.SimpleNamespace(backbone=plain)
    units = checkpoint_units(seg)
    assert units == list(plain.layers)


def test_full_size_parameter_counts():
    """Official sizes without the unused mask token: ViT-B/14 86,580,480 -
    768, ViT-L/14 304,368,640 - 1,024 parameters; with it (VFM-UDA's token
    masking) the official counts."""
    with torch.device('meta'):
        counts = {(arch, token): sum(p.numel() for p in MODELS.build(dict(
            type='DINOv2VisionTransformer', arch=arch,
            with_mask_token=token)).parameters())
            for arch in ('vit-b14', 'vit-l14') for token in (False, True)}
    assert counts == {('vit-b14', False): 86_579_712,
                      ('vit-l14', False): 304_367_616,
                      ('vit-b14', True): 86_580_480,
                      ('vit-l14', True): 304_368_640}


def test_converter_tool_writes_backbone_keys(tmp_path, capsys):
    from tools.model_converters.bdl_to_mmbdl import main
    state = official_state()
    torch.save(state, tmp_path / 'dinov2_tiny_pretrain.pth')
    assert main([str(tmp_path / 'dinov2_tiny_pretrain.pth'),
                 str(tmp_path / 'out.pth')]) == 0
    assert 'dinov2:' in capsys.readouterr().out
    written = torch.load(tmp_path / 'out.pth', weights_only=True)
    assert written['meta']['arch'] == 'dinov2'
    model = build(with_mask_token=True)
    own = {'backbone.' + k for k in model.state_dict()}
    assert set(written['state_dict']) == own
    # the converted file loads into a backbone without the mask token too
    plain = MODELS.build(dict(TINY, init_cfg=dict(
        type='Pretrained', checkpoint=str(tmp_path / 'out.pth'),
        prefix='backbone.')))
    plain.init_weights()
    torch.testing.assert_close(plain.cls_token.detach(), state['cls_token'])


def test_perceptual_memory_path_checkpoints_vit_blocks():
    """F's memory saving (activation checkpointing of checkpoint_units)
    gives M's input gradient unchanged for a ViT M."""
    from mmbdl.models.translators.perceptual_memory import (
        disable_activation_checkpointing, enable_activation_checkpointing)
    seg = tiny_segmentor()
    seg.init_weights()
    seg.eval()
    img = torch.randn(2, 3, 28, 42)
    metas = [dict(img_shape=(28, 42))] * 2

    def input_grad():
        x = img.clone().requires_grad_(True)
        seg.encode_decode(x, metas).square().mean().backward()
        return x.grad

    plain = input_grad()
    assert enable_activation_checkpointing(seg) == 2
    torch.testing.assert_close(input_grad(), plain)
    disable_activation_checkpointing(seg)


def test_whole_image_test_pads_to_patches_and_crops_back():
    """The configs' test_cfg=dict(size_divisor=14): a 30x44 image is
    padded to 42x56 for the ViT and predicted at 30x44; the prediction of
    the original pixels equals that of the same image placed in a
    42x56 canvas by hand."""
    from mmseg.structures import SegDataSample
    seg = MODELS.build(dict(
        type='BDLEncoderDecoder',
        data_preprocessor=dict(
            type='SegDataPreProcessor', mean=[0., 0., 0.], std=[1., 1., 1.],
            size_divisor=1, pad_val=0, seg_pad_val=255,
            test_cfg=dict(size_divisor=14)),
        backbone=dict(TINY, out_indices=-1),
        decode_head=dict(
            type='SETRUPHead', in_channels=32, channels=8, num_convs=2,
            up_scale=2, kernel_size=3, num_classes=3, align_corners=False,
            norm_cfg=dict(type='BN', requires_grad=True),
            loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0))))
    seg.init_weights()
    seg.eval()
    img = torch.rand(3, 30, 44) * 255

    def sample(h, w):
        return SegDataSample(metainfo=dict(img_shape=(h, w),
                                           ori_shape=(h, w)))

    with torch.no_grad():
        out, = seg.test_step(dict(inputs=[img],
                                  data_samples=[sample(30, 44)]))
        canvas = torch.zeros(3, 42, 56)
        canvas[:, :30, :44] = img
        full, = seg.test_step(dict(inputs=[canvas],
                                   data_samples=[sample(42, 56)]))
    assert tuple(out.pred_sem_seg.data.shape) == (1, 30, 44)
    torch.testing.assert_close(out.seg_logits.data,
                               full.seg_logits.data[:, :30, :44])
