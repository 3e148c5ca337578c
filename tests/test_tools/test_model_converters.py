"""bdl_to_mmbdl: release-layout state dicts give identical outputs.

The reference modules below are written from the facts in docs/method_facts.md
(key names, shapes, layer order of the released models); they are not the
release's code.
"""
import math
import os.path as osp

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmbdl.registry import MODELS
from tools.model_converters.bdl_to_mmbdl import (compare_with_model, convert,
                                                 detect_arch, main)


# ---------------------------------------------------------------- DeepLab
class RefBottleneck(nn.Module):
    """Caffe bottleneck: stride in conv1, dilation in conv2."""

    def __init__(self, cin, planes, stride, dilation, project):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, stride, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, dilation, dilation,
                               bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = nn.Sequential(
            nn.Conv2d(cin, planes * 4, 1, stride, bias=False),
            nn.BatchNorm2d(planes * 4)) if project else None

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        skip = x if self.downsample is None else self.downsample(x)
        return F.relu(y + skip)


class RefClassifier(nn.Module):

    def __init__(self, cin, num_classes, dilations, effective):
        super().__init__()
        self.conv2d_list = nn.ModuleList(
            nn.Conv2d(cin, num_classes, 3, 1, d, d) for d in dilations)
        self.effective = effective

    def forward(self, x):
        return sum(conv(x) for conv in self.conv2d_list[:self.effective])


class RefDeepLab(nn.Module):
    """DeepLab-v2 ResNet laid out like the release (keys and shapes)."""

    def __init__(self, blocks=(3, 4, 23, 3), width=64, num_classes=19,
                 effective=4):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        cin = width
        for i, (n, stride, dil) in enumerate(
                zip(blocks, (1, 2, 1, 1), (1, 1, 2, 4)), start=1):
            planes = width * 2**(i - 1)
            layer = []
            for b in range(n):
                layer.append(RefBottleneck(cin, planes, stride if b == 0
                                           else 1, dil, b == 0))
                cin = planes * 4
            setattr(self, f'layer{i}', nn.Sequential(*layer))
        self.layer5 = RefClassifier(cin, num_classes, (6, 12, 18, 24),
                                    effective)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.max_pool2d(x, 3, 2, 1, ceil_mode=True)
        for i in range(1, 5):
            x = getattr(self, f'layer{i}')(x)
        return self.layer5(x)


def randomise(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if t.is_floating_point():
                if name.endswith('running_var'):
                    t.copy_(torch.rand(t.shape, generator=g) + 0.5)
                else:
                    t.copy_(torch.randn(t.shape, generator=g) * 0.1)
    return module


def deeplab_cfg(depth=50, width=64, effective=None, num_classes=19):
    return dict(
        type='BDLEncoderDecoder',
        backbone=dict(type='DeepLabV2ResNet', depth=depth,
                      base_channels=width, stem_channels=width),
        decode_head=dict(type='DeepLabV2Head', in_channels=width * 32,
                         num_classes=num_classes,
                         num_effective_branches=effective,
                         align_corners=True),
        test_cfg=dict(mode='whole'))


@pytest.mark.parametrize('effective', [4, 2])
def test_deeplab_outputs_identical(effective):
    ref = randomise(RefDeepLab((3, 4, 6, 3), width=4,
                               effective=effective)).eval()
    state, dropped, arch = convert(
        {f'module.{k}': v for k, v in ref.state_dict().items()})
    assert arch == 'deeplabv2' and not dropped
    model = MODELS.build(deeplab_cfg(width=4, effective=effective)).eval()
    compare_with_model(state, model)
    model.load_state_dict(state, strict=True)
    x = torch.randn(2, 3, 52, 60)  # even stem output: ceil_mode matters
    with torch.no_grad():
        expected = ref(x)
        got = model(x, mode='tensor')
    assert got.shape == expected.shape == (2, 19, 7, 8)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_full_size_release_layout_loads_strictly():
    ref = RefDeepLab()
    assert sum(p.numel() for p in ref.parameters()) == 43901068
    state, _, _ = convert(ref.state_dict())
    model = MODELS.build(deeplab_cfg(depth=101))
    model.load_state_dict(state, strict=True)


def test_imagenet_init_drops_foreign_classifier():
    ref = RefDeepLab((3, 4, 6, 3), width=4, num_classes=21)
    init = {f'Scale.{k}': v for k, v in ref.state_dict().items()
            if not k.endswith('num_batches_tracked')}  # old PyTorch
    assert detect_arch(init) == 'deeplabv2-init'
    state, dropped, arch = convert(init)
    assert arch == 'deeplabv2-init'
    assert sorted(dropped) == sorted(
        f'layer5.conv2d_list.{i}.{p}' for i in range(4)
        for p in ('weight', 'bias'))
    model = MODELS.build(deeplab_cfg(width=4))
    compare_with_model(state, model, allow_missing=('decode_head.', ))
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected
    assert all(k.startswith('decode_head.') for k in missing) and missing
    assert state['backbone.bn1.num_batches_tracked'].item() == 0


# ---------------------------------------------------------------- FCN-8s
def ref_fcn8s_state(c=(4, 4, 8, 8, 8), fc=16, n=19, seed=0):
    """State dict of a Caffe FCN-8s with the release's key names."""
    g = torch.Generator().manual_seed(seed)
    state, cin = {}, 3
    for b, (convs, cout) in enumerate(zip((2, 2, 3, 3, 3), c), start=1):
        for i in range(1, convs + 1):
            state[f'conv{b}_{i}.weight'] = torch.randn(
                cout, cin, 3, 3, generator=g) / math.sqrt(cin * 9)
            state[f'conv{b}_{i}.bias'] = torch.randn(cout, generator=g) * .1
            cin = cout
    state['fc6.weight'] = torch.randn(fc, cin, 7, 7, generator=g) / 20
    state['fc6.bias'] = torch.randn(fc, generator=g) * .1
    state['fc7.weight'] = torch.randn(fc, fc, 1, 1, generator=g) / 4
    state['fc7.bias'] = torch.randn(fc, generator=g) * .1
    for name, cin_ in (('score_fr', fc), ('score_pool3', c[2]),
                       ('score_pool4', c[3])):
        state[f'{name}.weight'] = torch.randn(n, cin_, 1, 1, generator=g)
        state[f'{name}.bias'] = torch.randn(n, generator=g)
    for name, k in (('upscore2', 4), ('upscore8', 16),
                    ('upscore_pool4', 4)):
        state[f'{name}.weight'] = torch.randn(n, n, k, k, generator=g) * .1
    return state


def ref_fcn8s_forward(s, x):
    """Caffe FCN-8s forward from the facts (pad 100, crops 5 / 9 / 31)."""
    h, pools = x, {}
    for b, convs in enumerate((2, 2, 3, 3, 3), start=1):
        for i in range(1, convs + 1):
            pad = 100 if (b, i) == (1, 1) else 1
            h = F.relu(F.conv2d(h, s[f'conv{b}_{i}.weight'],
                                s[f'conv{b}_{i}.bias'], padding=pad))
        h = F.max_pool2d(h, 2, 2, ceil_mode=True)
        pools[b] = h
    h = F.relu(F.conv2d(h, s['fc6.weight'], s['fc6.bias']))
    h = F.relu(F.conv2d(h, s['fc7.weight'], s['fc7.bias']))
    h = F.conv2d(h, s['score_fr.weight'], s['score_fr.bias'])
    up2 = F.conv_transpose2d(h, s['upscore2.weight'], stride=2)
    p4 = F.conv2d(pools[4] * 0.01, s['score_pool4.weight'],
                  s['score_pool4.bias'])
    h = up2 + p4[:, :, 5:5 + up2.shape[2], 5:5 + up2.shape[3]]
    up4 = F.conv_transpose2d(h, s['upscore_pool4.weight'], stride=2)
    p3 = F.conv2d(pools[3] * 0.0001, s['score_pool3.weight'],
                  s['score_pool3.bias'])
    h = up4 + p3[:, :, 9:9 + up4.shape[2], 9:9 + up4.shape[3]]
    h = F.conv_transpose2d(h, s['upscore8.weight'], stride=8)
    return h[:, :, 31:31 + x.shape[2], 31:31 + x.shape[3]]


def test_fcn8s_outputs_identical():
    ref = ref_fcn8s_state()
    state, dropped, arch = convert(dict(state_dict=ref))
    assert arch == 'fcn8s-vgg16' and not dropped
    model = MODELS.build(dict(
        type='BDLEncoderDecoder',
        backbone=dict(type='VGG16FCN', stage_channels=(4, 4, 8, 8, 8),
                      fc_channels=16),
        decode_head=dict(type='FCN8sHead', in_channels=(3, 8, 8, 16),
                         num_classes=19))).eval()
    compare_with_model(state, model)
    model.load_state_dict(state, strict=True)
    x = torch.randn(1, 3, 37, 50)
    with torch.no_grad():
        expected = ref_fcn8s_forward(ref, x)
        got = model(x, mode='tensor')
    assert got.shape == (1, 19, 37, 50)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------- discriminator
def test_discriminator_outputs_identical():
    g = torch.Generator().manual_seed(0)
    chans = (19, 64, 128, 256, 512, 1)
    names = ('conv1', 'conv2', 'conv3', 'conv4', 'classifier')
    ref = {}
    for name, cin, cout in zip(names, chans[:-1], chans[1:]):
        ref[f'{name}.weight'] = torch.randn(cout, cin, 4, 4,
                                            generator=g) * 0.05
        ref[f'{name}.bias'] = torch.randn(cout, generator=g) * 0.05
    assert sum(v.numel() for v in ref.values()) == 2781121
    state, _, arch = convert(ref)
    assert arch == 'discriminator'
    disc = MODELS.build(dict(type='FCDiscriminator'))
    disc.load_state_dict(state, strict=True)
    x = torch.softmax(torch.randn(1, 19, 64, 96), 1)
    h = x
    for i, name in enumerate(names):
        h = F.conv2d(h, ref[f'{name}.weight'], ref[f'{name}.bias'],
                     stride=2, padding=1)
        if i < 4:
            h = F.leaky_relu(h, 0.2)
    with torch.no_grad():
        torch.testing.assert_close(disc(x), h, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- bad input
def test_checkpoint_of_another_architecture_lists_keys():
    state, _, _ = convert(ref_fcn8s_state())
    model = MODELS.build(deeplab_cfg(width=4))
    with pytest.raises(ValueError) as err:
        compare_with_model(state, model)
    msg = str(err.value)
    assert 'missing keys' in msg and 'backbone.layer1.0.conv1.weight' in msg
    assert 'unexpected keys' in msg and 'backbone.conv1_1.weight' in msg
    with pytest.raises(ValueError, match='not a BDL'):
        detect_arch({'foo.weight': torch.zeros(1)})


def test_cli_writes_checkpoint_and_refuses_wrong_config(tmp_path, capsys):
    src = tmp_path / 'vgg.pth'
    torch.save(ref_fcn8s_state(), src)
    dst = tmp_path / 'out' / 'vgg_mmbdl.pth'
    assert main([str(src), str(dst), '--prefix', 'segmentor.']) == 0
    saved = torch.load(dst, map_location='cpu', weights_only=True)
    assert 'segmentor.backbone.fc6.weight' in saved['state_dict']
    assert saved['meta']['arch'] == 'fcn8s-vgg16'
    repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    cfg = osp.join(repo, 'configs', '_base_', 'models', 'deeplabv2_r101.py')
    bad = tmp_path / 'bad.pth'
    assert main([str(src), str(bad), '--config', cfg]) == 1
    err = capsys.readouterr().err
    assert 'missing keys' in err and 'unexpected keys' in err
    assert not bad.exists()
