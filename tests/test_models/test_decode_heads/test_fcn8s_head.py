"""FCN8sHead: release parameter count, bilinear frozen upsampling, crops."""
import pytest
import torch

from mmbdl.models.decode_heads import FCN8sHead
from mmbdl.models.decode_heads.fcn8s_head import bilinear_kernel
from mmbdl.registry import MODELS


def test_release_parameter_count():
    model = MODELS.build(dict(
        type='EncoderDecoder', backbone=dict(type='VGG16FCN'),
        decode_head=dict(type='FCN8sHead', num_classes=19)))
    assert sum(p.numel() for p in model.parameters()) == 134456985


def test_upsampling_is_bilinear_and_frozen():
    head = FCN8sHead(in_channels=(3, 8, 8, 16), num_classes=2)
    head.init_weights()
    for m in (head.upscore2, head.upscore_pool4, head.upscore8):
        assert not m.weight.requires_grad and m.bias is None
    assert not head.score_fr.weight.any()  # zero init like the release
    # a bilinear 2x transposed conv keeps a constant map constant inside
    x = torch.ones(1, 2, 6, 6)
    y = torch.nn.functional.conv_transpose2d(x, bilinear_kernel(2, 4),
                                             stride=2)
    torch.testing.assert_close(y[:, :, 2:-2, 2:-2],
                               torch.ones_like(y[:, :, 2:-2, 2:-2]))
    k = bilinear_kernel(1, 4)[0, 0]
    torch.testing.assert_close(k[0], torch.tensor([.0625, .1875, .1875,
                                                   .0625]))


def test_output_cropped_to_input_size():
    model = MODELS.build(dict(
        type='EncoderDecoder',
        backbone=dict(type='VGG16FCN', stage_channels=(4, 4, 8, 8, 8),
                      fc_channels=16),
        decode_head=dict(type='FCN8sHead', in_channels=(3, 8, 8, 16),
                         num_classes=3)))
    for h, w in ((32, 32), (45, 70)):
        out = model(torch.randn(1, 3, h, w), mode='tensor')
        assert out.shape == (1, 3, h, w)


def test_crop_too_large_is_explained():
    head = FCN8sHead(in_channels=(3, 8, 8, 16), num_classes=2)
    with pytest.raises(ValueError, match='pad'):
        head._crop(torch.zeros(1, 2, 10, 10), 5, (8, 8))
