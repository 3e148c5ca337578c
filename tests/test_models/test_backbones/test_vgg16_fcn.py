"""VGG16FCN: Caffe FCN trunk outputs and layout."""
import torch

from mmbdl.models.backbones import VGG16FCN


def test_outputs_and_padding():
    net = VGG16FCN(stage_channels=(4, 4, 8, 8, 8), fc_channels=16).eval()
    x = torch.randn(1, 3, 40, 56)
    with torch.no_grad():
        img, pool3, pool4, fc7 = net(x)
    assert img is x
    # conv1_1 pads by 100: (40 + 198) -> ceil pools /2 five times
    h = 40 + 198
    sizes = []
    for _ in range(5):
        h = -(-h // 2)
        sizes.append(h)
    assert pool3.shape == (1, 8, sizes[2], -(-(56 + 198) // 8))
    assert pool4.shape[2] == sizes[3]
    assert fc7.shape == (1, 16, sizes[4] - 6, fc7.shape[3])
    assert net.conv1_1.padding == (100, 100)
    assert net.fc6.kernel_size == (7, 7)
    assert net.pool.ceil_mode


def test_state_dict_names_match_caffe_fcn():
    keys = set(VGG16FCN().state_dict())
    expected = {f'conv{b}_{i}.{p}' for b, n in enumerate((2, 2, 3, 3, 3), 1)
                for i in range(1, n + 1) for p in ('weight', 'bias')}
    expected |= {f'fc{i}.{p}' for i in (6, 7) for p in ('weight', 'bias')}
    assert keys == expected
