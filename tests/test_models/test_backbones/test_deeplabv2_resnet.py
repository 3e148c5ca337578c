"""DeepLabV2ResNet: the release's geometry, BN handling and key names."""
import pytest
import torch
import torch.nn as nn

from mmbdl.models.backbones import DeepLabV2ResNet
from mmbdl.registry import MODELS


def test_release_parameter_counts_with_head():
    model = MODELS.build(dict(
        type='EncoderDecoder', backbone=dict(type='DeepLabV2ResNet'),
        decode_head=dict(type='DeepLabV2Head', num_classes=19)))
    params = list(model.parameters())
    assert sum(p.numel() for p in params) == 43901068
    assert sum(p.numel() for p in params if p.requires_grad) == 43795724


@pytest.mark.parametrize('ceil, expected', [(True, (33, 65)),
                                            (False, (32, 64))])
def test_512x256_input_gives_65x33(ceil, expected):
    # same geometry as R101 at 1/16 of the width (fast on the CPU)
    net = DeepLabV2ResNet(depth=101, base_channels=4, stem_channels=4,
                          stem_ceil_mode=ceil)
    net.eval()  # mmseg's ResNet.train() returns None: no chaining
    with torch.no_grad():
        (out, ) = net(torch.zeros(1, 3, 256, 512))
    assert tuple(out.shape[2:]) == expected
    assert out.shape[1] == 4 * 32


def test_caffe_style_dilations_and_projections():
    net = DeepLabV2ResNet(depth=101, base_channels=4, stem_channels=4)
    assert net.conv1.kernel_size == (7, 7) and net.conv1.stride == (2, 2)
    assert net.maxpool.ceil_mode and net.maxpool.padding == 1
    first = net.layer2[0]
    assert first.conv1.stride == (2, 2) and first.conv2.stride == (1, 1)
    for name, dil in (('layer1', 1), ('layer2', 1), ('layer3', 2),
                      ('layer4', 4)):
        layer = getattr(net, name)
        assert all(b.conv2.dilation == (dil, dil) for b in layer), name
        assert all(b.conv2.padding == (dil, dil) for b in layer), name
        assert layer[0].downsample is not None
        assert all(b.downsample is None for b in list(layer)[1:])
    assert len(net.layer3) == 23
    keys = set(net.state_dict())
    for key in ('conv1.weight', 'bn1.running_mean',
                'layer1.0.downsample.0.weight',
                'layer1.0.downsample.1.weight', 'layer4.2.bn3.bias'):
        assert key in keys


def test_bn_affine_frozen_but_train_mode():
    net = DeepLabV2ResNet(depth=50, base_channels=4, stem_channels=4)
    net.train()
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(m.training for m in bns)
    assert all(not p.requires_grad for m in bns for p in m.parameters())
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert all(m.weight.requires_grad for m in convs)
    # configurable: norm_eval puts BN in eval mode
    net = DeepLabV2ResNet(depth=50, base_channels=4, stem_channels=4,
                          norm_eval=True)
    net.train()
    assert not any(m.training for m in net.modules()
                   if isinstance(m, nn.BatchNorm2d))


def test_deep_stem_refused():
    with pytest.raises(ValueError, match='ResNetV1c'):
        DeepLabV2ResNet(deep_stem=True)
