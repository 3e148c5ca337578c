"""VFM-UDA's light head and the whole network (DINOv2 + head + 1.1x
resize) inside MMSegmentation's EncoderDecoder."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import ConfigDict
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmbdl.models.backbones.dinov2_vit import vfm_input_size
from mmbdl.models.decode_heads import LayerNorm2d, VFMLightHead
from mmbdl.registry import MODELS
from mmbdl.utils.errors import ConfigCheckError


def head_params(d, classes):
    """Parameters of the light head for token width ``d``, counted layer
    by layer: two 2x2 transposed convs and a 3x3 conv without biases,
    three LayerNorms (weight + bias), a bias-free 1x1 classifier."""
    up1 = d * (d // 2) * 2 * 2
    up2 = (d // 2) * (d // 4) * 2 * 2
    conv = (d // 4) * (d // 4) * 3 * 3
    norms = 2 * (d // 2) + 2 * (d // 4) + 2 * (d // 4)
    classifier = (d // 4) * classes
    return up1 + up2 + conv + norms + classifier


def dinov2_params(d, depth, patch=14, grid=37, mask_token=True):
    """Parameters of an official DINOv2 ViT (LayerNorm everywhere, layer
    scale on both branches, MLP ratio 4, biased qkv)."""
    stem = d * 3 * patch * patch + d          # patch projection
    tokens = d + (1 + grid * grid) * d        # class token, pos embedding
    tokens += d if mask_token else 0
    attn = (d * 3 * d + 3 * d) + (d * d + d)  # qkv, proj
    mlp = (d * 4 * d + 4 * d) + (4 * d * d + d)
    block = 2 * (2 * d) + attn + mlp + 2 * d  # two norms, two layer scales
    return stem + tokens + depth * block + 2 * d  # + final norm


def build_head(**kwargs):
    cfg = dict(type='VFMLightHead', in_channels=32, num_classes=5)
    cfg.update(kwargs)
    head = MODELS.build(cfg)
    head.init_weights()
    return head


def test_output_shape_and_forward_composition():
    torch.manual_seed(0)
    head = build_head().eval()
    assert isinstance(head, VFMLightHead)
    tokens = torch.randn(2, 32, 3, 4)
    out = head([tokens])
    assert tuple(out.shape) == (2, 5, 12, 16)
    expected = head.conv_seg(head.upscale(tokens))
    torch.testing.assert_close(out, expected)
    # in_index picks the backbone output
    other = build_head(in_index=1).eval()
    other.load_state_dict(head.state_dict())
    torch.testing.assert_close(other([torch.zeros(1), tokens]), out)


def test_layer_sequence():
    head = build_head(in_channels=768, num_classes=19)
    layers = list(head.upscale)
    assert [type(m) for m in layers] == [
        nn.ConvTranspose2d, LayerNorm2d, nn.GELU, nn.ConvTranspose2d,
        LayerNorm2d, nn.Conv2d, LayerNorm2d]
    up1, norm1, _, up2, norm2, conv, norm3 = layers
    assert (up1.in_channels, up1.out_channels) == (768, 384)
    assert (up2.in_channels, up2.out_channels) == (384, 192)
    assert (conv.in_channels, conv.out_channels) == (192, 192)
    for m in (up1, up2):
        assert m.kernel_size == (2, 2) and m.stride == (2, 2)
        assert m.padding == (0, 0) and m.bias is None
    assert conv.kernel_size == (3, 3) and conv.stride == (1, 1)
    assert conv.padding == (1, 1) and conv.bias is None
    assert [n.normalized_shape for n in (norm1, norm2, norm3)] == [
        (384, ), (192, ), (192, )]
    assert all(n.eps == 1e-6 for n in (norm1, norm2, norm3))
    assert layers[2].approximate == 'none'
    cls = head.conv_seg
    assert (cls.in_channels, cls.out_channels) == (192, 19)
    assert cls.kernel_size == (1, 1) and cls.bias is None
    assert head.channels == 192 and head.dropout is None
    assert head.align_corners is False and head.in_index == 0


def test_classifier_init_std_survives_init_weights():
    """N(0, 0.1) like the release, not BaseDecodeHead's N(0, 0.01)."""
    torch.manual_seed(0)
    head = build_head(in_channels=768, num_classes=19)
    weight = head.conv_seg.weight.detach()
    assert weight.numel() == 19 * 192
    assert 0.09 < weight.std().item() < 0.11
    assert abs(weight.mean().item()) < 0.01
    assert head.conv_seg.bias is None


@pytest.mark.parametrize('d,expected', [(768, 1_811_520),
                                        (1024, 3_218_176)])
def test_head_parameter_count(d, expected):
    with torch.device('meta'):
        head = MODELS.build(dict(type='VFMLightHead', in_channels=d,
                                 num_classes=19))
    count = sum(p.numel() for p in head.parameters())
    assert count == head_params(d, 19) == expected


@pytest.mark.parametrize('arch,d,depth,backbone,total', [
    ('vit-b14', 768, 12, 86_580_480, 88_392_000),
    ('vit-l14', 1024, 24, 304_368_640, 307_586_816)])
def test_full_size_network_parameter_counts(arch, d, depth, backbone, total):
    """ViT-B/14 and ViT-L/14 with the mask token (the official DINOv2
    counts) plus the light head for 19 classes."""
    with torch.device('meta'):
        seg = MODELS.build(dict(
            type='BDLEncoderDecoder',
            backbone=dict(type='DINOv2VisionTransformer', arch=arch,
                          with_mask_token=True,
                          input_resize=vfm_input_size(1024)),
            decode_head=dict(type='VFMLightHead', in_channels=d,
                             num_classes=19)))
    n_backbone = sum(p.numel() for p in seg.backbone.parameters())
    n_head = sum(p.numel() for p in seg.decode_head.parameters())
    assert n_backbone == dinov2_params(d, depth) == backbone
    assert n_head == head_params(d, 19)
    assert sum(p.numel() for p in seg.parameters()) == total
    assert seg.backbone.input_resize == 1120
    assert (seg.backbone.embed_dims, seg.backbone.num_layers) == (d, depth)


def test_layer_norm_2d_normalises_channels():
    torch.manual_seed(0)
    norm = LayerNorm2d(6)
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    x = torch.randn(2, 6, 3, 5) * 3 + 1
    mean = x.mean(1, keepdim=True)
    var = x.var(1, unbiased=False, keepdim=True)
    expected = (x - mean) / torch.sqrt(var + 1e-6) * norm.weight.view(
        1, 6, 1, 1) + norm.bias.view(1, 6, 1, 1)
    torch.testing.assert_close(norm(x), expected, rtol=1e-5, atol=1e-5)


def test_refusals():
    with pytest.raises(ConfigCheckError, match='remove channels'):
        build_head(in_channels=768, num_classes=19, channels=256)
    assert build_head(in_channels=768, num_classes=19,
                      channels=192).channels == 192
    with pytest.raises(ConfigCheckError, match='multiple of 4'):
        build_head(in_channels=30)
    with pytest.raises(ConfigCheckError, match='remove norm_cfg'):
        build_head(norm_cfg=dict(type='BN'))


# ---------------------------------------------- the network in a segmentor
def segmentor(test_cfg=None, resize_probs=False):
    """Tiny VFM-UDA network: a 42x42 ViT input (vfm_input_size(39)), 3x3
    tokens, 12x12 logits."""
    torch.manual_seed(0)
    seg = MODELS.build(dict(
        type='BDLEncoderDecoder',
        resize_probs=resize_probs,
        backbone=dict(type='DINOv2VisionTransformer', embed_dims=32,
                      num_layers=2, num_heads=2, img_size=56,
                      with_mask_token=True, input_resize=42),
        decode_head=dict(
            type='VFMLightHead', in_channels=32, num_classes=3,
            loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
        test_cfg=ConfigDict(test_cfg or dict(mode='whole'))))
    seg.init_weights()
    return seg


def samples(h, w, labels=None):
    out = []
    for i in range(len(labels) if labels is not None else 1):
        sample = SegDataSample(metainfo=dict(img_shape=(h, w),
                                             ori_shape=(h, w)))
        if labels is not None:
            sample.gt_sem_seg = PixelData(data=labels[i][None])
        out.append(sample)
    return out


def raw_logits(seg, img):
    """Head logits of the network on the image resized to 42x42."""
    small = F.interpolate(img, size=(42, 42), mode='bilinear',
                          align_corners=False)
    seg.backbone.input_resize = None
    try:
        return seg.decode_head(seg.backbone(small))
    finally:
        seg.backbone.input_resize = 42


def test_whole_predict_at_the_input_size():
    assert vfm_input_size(39) == 42
    seg = segmentor().eval()
    img = torch.randn(1, 3, 28, 28)
    with torch.no_grad():
        out, = seg.predict(img, samples(28, 28))
        logits = raw_logits(seg, img)
    assert tuple(logits.shape) == (1, 3, 12, 12)
    expected = F.interpolate(logits, size=(28, 28), mode='bilinear',
                             align_corners=False)[0]
    assert tuple(out.seg_logits.data.shape) == (3, 28, 28)
    torch.testing.assert_close(out.seg_logits.data, expected)
    assert torch.equal(out.pred_sem_seg.data[0], expected.argmax(0))
    # BDL's rule (probabilities resized) also ends at the image size
    probs = segmentor(resize_probs=True).eval()
    with torch.no_grad():
        out, = probs.predict(img, samples(28, 28))
    torch.testing.assert_close(out.seg_logits.data, F.interpolate(
        logits.softmax(1), size=(28, 28), mode='bilinear',
        align_corners=False)[0])


def test_whole_predict_of_non_square_image_refused():
    seg = segmentor().eval()
    with pytest.raises(ConfigCheckError, match="mode='slide'"):
        seg.predict(torch.randn(1, 3, 28, 56), samples(28, 56))


def test_slide_predict_of_non_square_image():
    """Square 28x28 windows (stride 14) over a 28x56 image: each window's
    logits come back at 28x28 and are averaged where they overlap."""
    seg = segmentor(dict(mode='slide', crop_size=(28, 28),
                         stride=(14, 14))).eval()
    img = torch.randn(1, 3, 28, 56)
    with torch.no_grad():
        out, = seg.predict(img, samples(28, 56))
        total = torch.zeros(1, 3, 28, 56)
        count = torch.zeros(1, 1, 28, 56)
        for x0 in (0, 14, 28):
            window = img[..., x0:x0 + 28]
            total[..., x0:x0 + 28] += F.interpolate(
                raw_logits(seg, window), size=(28, 28), mode='bilinear',
                align_corners=False)
            count[..., x0:x0 + 28] += 1
    assert tuple(out.seg_logits.data.shape) == (3, 28, 56)
    torch.testing.assert_close(out.seg_logits.data, (total / count)[0])


def test_loss_on_labels_at_the_input_size():
    seg = segmentor().train()
    img = torch.randn(2, 3, 28, 28)
    labels = torch.randint(0, 3, (2, 28, 28),
                           generator=torch.Generator().manual_seed(0))
    losses = seg.loss(img, samples(28, 28, labels))
    logits = raw_logits(seg, img)
    expected = F.cross_entropy(
        F.interpolate(logits, size=(28, 28), mode='bilinear',
                      align_corners=False), labels)
    torch.testing.assert_close(losses['decode.loss_ce'], expected)
    # with token masking the loss changes and reaches the mask token
    with seg.backbone.token_masking(0.5):
        masked = seg.loss(img, samples(28, 28, labels))['decode.loss_ce']
    assert not torch.allclose(masked, expected)
    masked.backward()
    assert seg.backbone.mask_token.grad.abs().sum() > 0
