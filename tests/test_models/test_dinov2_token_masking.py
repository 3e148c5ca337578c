"""VFM-UDA's additions to the DINOv2 backbone: the 1.1x input resize,
DINOv2's ``mask_token`` (kept by the converter) and token masking.

A tiny ViT (embed 32, 2 blocks, 14-pixel patches, a 4x4 pretraining grid)
stands in for DINOv2; its official-layout checkpoints come from
tests/dinov2_tiny.py.
"""
import pytest
import torch
import torch.nn.functional as F
from dinov2_tiny import official_state, reference_features

from mmbdl.models.backbones.dinov2_vit import vfm_input_size
from mmbdl.models.utils import PRETRAINED_ATTR
from mmbdl.registry import MODELS
from mmbdl.utils.errors import ConfigCheckError
from mmbdl.utils.weights import convert_dinov2, match_keys

TINY = dict(type='DINOv2VisionTransformer', embed_dims=32, num_layers=2,
            num_heads=2, img_size=56, out_indices=-1)


def build(path=None, **kwargs):
    cfg = dict(TINY, **kwargs)
    if path is not None:
        cfg['init_cfg'] = dict(type='Pretrained', checkpoint=f'bdl://{path}',
                               prefix='backbone.')
    model = MODELS.build(cfg)
    model.init_weights()
    return model


@pytest.fixture
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv('MMBDL_OFFLINE', '1')
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    return tmp_path


def masked_model(seed=0):
    """A tiny backbone with a random (non-zero) mask token."""
    torch.manual_seed(seed)
    model = build(with_mask_token=True)
    with torch.no_grad():
        model.mask_token.normal_(0, 1)
    return model


# --------------------------------------------------------------- resize rule
def test_vfm_input_size_values():
    assert vfm_input_size(1024) == 1120
    assert vfm_input_size(512) == 560
    assert vfm_input_size(504) == 546  # 554.4 -> 39 patches
    assert vfm_input_size(768) == 840
    assert vfm_input_size(64, patch_size=8) == 64  # 70 -> 8 patches
    assert vfm_input_size(100, patch_size=14, scale=1.0) == 98
    # the release's expression, int((s * 1.1) // 14 * 14), for every crop
    for crop in range(14, 2049):
        assert vfm_input_size(crop) == int((crop * 1.1) // 14 * 14), crop
    for crop, patch in ((10, 14), (64, 0)):
        with pytest.raises(ConfigCheckError, match='larger crop'):
            vfm_input_size(crop, patch_size=patch)


@pytest.mark.parametrize('patch,resize,side', [(14, 42, 28), (14, 42, 30),
                                               (8, 40, 24), (8, 40, 57)])
def test_input_resize_sets_the_token_grid(patch, resize, side):
    """The grid is input_resize / patch whatever the (square) input; the
    features are those of the bilinearly resized image; the patch check
    applies to the resized size (30 and 57 are no multiples)."""
    torch.manual_seed(0)
    model = build(patch_size=patch, img_size=4 * patch,
                  input_resize=resize).eval()
    plain = build(patch_size=patch, img_size=4 * patch).eval()
    plain.load_state_dict(model.state_dict())
    img = torch.randn(2, 3, side, side)
    with torch.no_grad():
        out, = model(img)
        ref, = plain(F.interpolate(img, size=(resize, resize),
                                   mode='bilinear', align_corners=False))
    assert tuple(out.shape) == (2, 32, resize // patch, resize // patch)
    torch.testing.assert_close(out, ref)
    if side % patch:
        with pytest.raises(ConfigCheckError, match='not a multiple'):
            plain(img)


def test_input_resize_of_the_input_size_is_identity():
    torch.manual_seed(0)
    model = build(input_resize=42).eval()
    img = torch.randn(1, 3, 42, 42)
    assert model.resize_input(img) is img
    assert build().resize_input(img) is img


def test_non_square_input_refused_with_resize():
    model = build(input_resize=42)
    with pytest.raises(ConfigCheckError) as err:
        model(torch.zeros(1, 3, 28, 42))
    msg = str(err.value)
    assert '28x42' in msg and "mode='slide'" in msg and 'square' in msg
    assert '\n' not in msg
    # without input_resize non-square inputs stay allowed
    assert tuple(build()(torch.zeros(1, 3, 28, 42))[0].shape) == (
        1, 32, 2, 3)


@pytest.mark.parametrize('bad,valid', [(50, '(42, 56)'), (13, '(14,)'),
                                       (0, '(14,)'), (-14, '(14,)')])
def test_bad_input_resize_refused_at_build(bad, valid):
    with pytest.raises(ConfigCheckError) as err:
        MODELS.build(dict(TINY, input_resize=bad))
    msg = str(err.value)
    assert f'input_resize={bad}' in msg and valid in msg
    assert 'patch_size 14' in msg and '\n' not in msg


# ---------------------------------------------------------------- mask token
def test_mask_token_parameter_only_when_asked():
    plain = build()
    assert plain.mask_token is None and plain.with_mask_token is False
    assert 'mask_token' not in plain.state_dict()
    model = build(with_mask_token=True)
    assert tuple(model.mask_token.shape) == (1, 32)
    assert model.mask_token.requires_grad
    assert torch.count_nonzero(model.mask_token) == 0  # DINOv2's zeros
    keys = set(model.state_dict())
    assert keys - set(plain.state_dict()) == {'mask_token'}
    n_plain = sum(p.numel() for p in plain.parameters())
    assert sum(p.numel() for p in model.parameters()) == n_plain + 32


def test_converter_keeps_mask_token_and_backbone_fits_it():
    state = official_state()
    out, dropped = convert_dinov2(state)
    assert dropped == []
    assert torch.equal(out['backbone.mask_token'], state['mask_token'])
    relative = {k[len('backbone.'):]: v for k, v in out.items()}
    # with a mask token: every key matches, nothing removed
    model = build(with_mask_token=True)
    kept = dict(relative)
    model.check_pretrained(kept, 'w.pth')
    match = match_keys(kept, model.state_dict(), 'w')
    assert match.unexpected == [] and match.missing == []
    # without one: removed before matching, so the load is as before
    plain = build()
    model_keys = plain.state_dict()
    plain.check_pretrained(relative, 'w.pth')
    assert 'mask_token' not in relative
    match = match_keys(relative, model_keys, 'w')
    assert match.unexpected == [] and match.missing == []


def test_loaded_mask_token_and_features(offline):
    state = official_state()
    torch.save(state, offline / 'dinov2_tiny_pretrain.pth')
    model = build(offline / 'dinov2_tiny_pretrain.pth',
                  with_mask_token=True).eval()
    assert getattr(model, PRETRAINED_ATTR).endswith('pretrain.pth')
    assert torch.equal(model.mask_token.detach(), state['mask_token'])
    img = torch.randn(2, 3, 42, 56, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours, = model(img)
    ref, = reference_features(state, img, num_heads=2, out_blocks=(1, ))
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-5)
    # a backbone without the token loads the same file as before
    plain = build(offline / 'dinov2_tiny_pretrain.pth').eval()
    with torch.no_grad():
        torch.testing.assert_close(plain(img)[0], ours)


def test_checkpoint_without_mask_token_refused(offline):
    state = official_state()
    del state['mask_token']
    path = offline / 'no_mask_token.pth'
    torch.save(state, path)
    with pytest.raises(ConfigCheckError) as err:
        build(path, with_mask_token=True)
    msg = str(err.value)
    assert str(path) in msg and 'no mask_token' in msg
    assert 'backbone.with_mask_token=False' in msg and 'mask_mode' in msg
    assert '\n' not in msg
    # without a mask token the file loads
    plain = build(path)
    assert getattr(plain, PRETRAINED_ATTR) == f'bdl://{path}'
    torch.testing.assert_close(plain.cls_token.detach(), state['cls_token'])


# ------------------------------------------------------------- token masking
def test_masked_fraction_and_values():
    """B=64 x L=400 tokens at ratio 0.7: 70% +- 2% replaced by the mask
    token, exactly where torch.rand(B, L) < 0.7 of the same seed (the
    release's rule); the others unchanged."""
    model = masked_model().train()
    x = torch.randn(64, 400, 32)
    original = x.clone()
    with model.token_masking(0.7):
        torch.manual_seed(123)
        out = model.mask_patch_tokens(x)
    torch.manual_seed(123)
    expected = torch.rand(64, 400) < 0.7
    token = model.mask_token.detach()[0]
    masked = (out == token).all(-1)
    assert torch.equal(masked, expected)
    assert abs(masked.float().mean().item() - 0.7) < 0.02
    assert torch.equal(out[~masked], x[~masked])
    assert torch.equal(x, original)  # input untouched
    assert out is not x
    # the dtype follows the tokens
    with model.token_masking(0.5):
        assert model.mask_patch_tokens(x.double()).dtype == torch.float64
    # outside the context, in eval mode and at ratio 0: the input itself
    assert model.mask_patch_tokens(x) is x
    with model.token_masking(0.):
        assert model.mask_patch_tokens(x) is x
    model.eval()
    with model.token_masking(0.7):
        assert model.mask_patch_tokens(x) is x


def test_forward_masks_patch_tokens_before_position_embedding():
    """The first block's input is cls + pos and, per patch, the patch
    embedding or the mask token, plus the positional embedding."""
    model = masked_model().train()
    img = torch.randn(4, 3, 42, 56)
    seen = []
    model.layers[0].register_forward_pre_hook(
        lambda module, args: seen.append(args[0].detach()))
    with model.token_masking(0.5):
        torch.manual_seed(7)
        model(img)
    torch.manual_seed(7)
    mask = torch.rand(4, 12) < 0.5
    assert 0 < mask.sum() < mask.numel()
    with torch.no_grad():
        tokens, grid = model.patch_embed(img)
        pos = model.interpolate_pos_embed(tuple(grid))
    assert tuple(grid) == (3, 4)
    patches = seen[0][:, 1:] - pos[:, 1:]
    token = model.mask_token.detach()[0]
    torch.testing.assert_close(patches[mask], token.expand(int(mask.sum()),
                                                           -1))
    torch.testing.assert_close(patches[~mask], tokens[~mask])
    torch.testing.assert_close(
        seen[0][:, 0], (model.cls_token + pos[:, :1])[:, 0].detach()
        .expand(4, -1))


def test_masking_only_inside_the_context_and_in_training():
    model = masked_model().train()
    img = torch.randn(2, 3, 42, 42)
    with torch.no_grad():
        before, = model(img)
        with model.token_masking(0.5):
            masked, = model(img)
            model.eval()
            evaluated, = model(img)
            model.train()
        after, = model(img)
        model.eval()
        plain_eval, = model(img)
    assert not torch.allclose(masked, before)
    torch.testing.assert_close(after, before, rtol=0, atol=0)
    torch.testing.assert_close(evaluated, plain_eval, rtol=0, atol=0)
    torch.testing.assert_close(before, plain_eval)
    assert model._mask_ratio == 0.


def test_nested_contexts_restore_the_ratio():
    model = masked_model()
    with model.token_masking(0.7) as backbone:
        assert backbone is model and model._mask_ratio == 0.7
        with model.token_masking(0.2):
            assert model._mask_ratio == 0.2
        assert model._mask_ratio == 0.7
    assert model._mask_ratio == 0.
    with pytest.raises(RuntimeError):
        with model.token_masking(0.4):
            raise RuntimeError('body failed')
    assert model._mask_ratio == 0.


def test_gradients_reach_mask_token_only_when_masking():
    model = masked_model().train()
    img = torch.randn(2, 3, 42, 42)
    model(img)[0].square().sum().backward()
    assert model.mask_token.grad is None
    with model.token_masking(0.5):
        model(img)[0].square().sum().backward()
    grad = model.mask_token.grad
    assert grad is not None and tuple(grad.shape) == (1, 32)
    assert grad.abs().sum() > 0
    assert model.patch_embed.projection.weight.grad.abs().sum() > 0


def test_masking_refused_without_mask_token_or_bad_ratio():
    with pytest.raises(ConfigCheckError) as err:
        with build().token_masking(0.7):
            pass
    assert 'backbone.with_mask_token=True' in str(err.value)
    model = masked_model()
    for bad in (-0.1, 1.5):
        with pytest.raises(ConfigCheckError, match=r'outside \[0, 1\]'):
            with model.token_masking(bad):
                pass
    assert model._mask_ratio == 0.
