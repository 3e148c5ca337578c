"""Pretrained init of the paper configs: release files converted on load.

Small fake checkpoints are written in the original key layouts (the
release's ``Scale.``-prefixed DeepLab ImageNet init, torchvision's VGG-16)
with shrunken models, found in the documented folders, converted in memory
and checked key by key.
"""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmbdl.models.utils import PRETRAINED_ATTR
from mmbdl.registry import MODELS
from mmbdl.utils.weights import (match_keys, pretrained_weights,
                                 suggest_prefix_fix, torchvision_vgg16_names)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
DEEPLAB_FILE = 'DeepLab_resnet_pretrained_init-f81d91e8.pth'
VGG_FILE = 'vgg16-397923af.pth'


def _small_deeplab_cfg():
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/_base_/models/deeplabv2_r101.py'))
    model = copy.deepcopy(cfg.model)
    model.backbone.update(depth=50, base_channels=4, stem_channels=4)
    model.decode_head.update(in_channels=128)
    return model


def _small_vgg_cfg():
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/_base_/models/fcn8s_vgg16.py'))
    model = copy.deepcopy(cfg.model)
    model.backbone.update(stage_channels=(4, 4, 8, 8, 8), fc_channels=16)
    model.decode_head.update(in_channels=(3, 8, 8, 16))
    return model


@pytest.fixture
def ckpt_dir(tmp_path, monkeypatch):
    folder = tmp_path / 'ckpts'
    folder.mkdir()
    monkeypatch.setenv('MMBDL_CHECKPOINTS', str(folder))
    monkeypatch.setenv('MMBDL_OFFLINE', '1')
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    return folder


def _fake_release_init(backbone):
    """The release's ImageNet init layout: `Scale.` + release keys, a
    1000-class layer5, no BatchNorm counters (PyTorch 0.3 files)."""
    state = {}
    for key, value in backbone.state_dict().items():
        if key.endswith('num_batches_tracked'):
            continue
        state['Scale.' + key] = torch.randn_like(value.float()) \
            if value.is_floating_point() else value
    for i in range(4):
        state[f'Scale.layer5.conv2d_list.{i}.weight'] = torch.randn(
            1000, 128, 3, 3)  # 128: layer4 channels of the small ResNet
        state[f'Scale.layer5.conv2d_list.{i}.bias'] = torch.randn(1000)
    return state


def test_deeplab_init_converted_on_load(ckpt_dir):
    model = MODELS.build(_small_deeplab_cfg())
    fake = _fake_release_init(MODELS.build(_small_deeplab_cfg()).backbone)
    torch.save(fake, ckpt_dir / DEEPLAB_FILE)
    model.init_weights()
    own = model.backbone.state_dict()
    loaded = [k for k in own if 'Scale.' + k in fake]
    assert len(loaded) == len(fake) - 8  # every backbone tensor
    for key in loaded:
        assert torch.equal(own[key], fake['Scale.' + key]), key
    # the 1000-class layer5 of the init file is dropped: the classifier
    # keeps its own N(0, 0.01) initialisation
    assert model.decode_head.classifiers[0].weight.shape[0] == 19
    assert getattr(model.backbone, PRETRAINED_ATTR) == \
        'bdl://deeplabv2-resnet101-imagenet'
    assert not hasattr(model.decode_head, PRETRAINED_ATTR)


def test_vgg16_torchvision_converted_on_load(ckpt_dir):
    model = MODELS.build(_small_vgg_cfg())
    backbone = model.backbone
    names = torchvision_vgg16_names()
    fake = {}
    for tv_name, name in names.items():
        conv = getattr(backbone, name)
        weight = torch.randn_like(conv.weight)
        if name == 'fc6':  # torchvision: Linear over the flattened pool5
            weight = weight.reshape(weight.shape[0], -1)
        elif name == 'fc7':
            weight = weight.reshape(weight.shape[0], -1)
        fake[f'{tv_name}.weight'] = weight
        fake[f'{tv_name}.bias'] = torch.randn_like(conv.bias)
    fake['classifier.6.weight'] = torch.randn(1000, 16)
    fake['classifier.6.bias'] = torch.randn(1000)
    torch.save(fake, ckpt_dir / VGG_FILE)
    model.init_weights()
    assert torch.equal(backbone.conv1_1.weight, fake['features.0.weight'])
    assert torch.equal(backbone.conv5_3.bias, fake['features.28.bias'])
    assert torch.equal(backbone.fc6.weight.flatten(1),
                       fake['classifier.0.weight'])
    assert backbone.fc6.weight.shape == (16, 8, 7, 7)
    assert torch.equal(backbone.fc7.weight[:, :, 0, 0],
                       fake['classifier.3.weight'])
    assert getattr(backbone, PRETRAINED_ATTR) == 'bdl://vgg16-imagenet'


def test_missing_file_offline_names_url_and_folder(ckpt_dir):
    model = MODELS.build(_small_deeplab_cfg())
    with pytest.raises(FileNotFoundError) as err:
        model.init_weights()
    msg = str(err.value)
    assert DEEPLAB_FILE in msg and 'MMBDL_OFFLINE' in msg
    assert f'checkpoints/{DEEPLAB_FILE}' in msg
    assert 'vllab.ucmerced.edu' in msg
    assert '\n' not in msg


def test_unreachable_url_one_line(ckpt_dir, monkeypatch):
    monkeypatch.delenv('MMBDL_OFFLINE')
    monkeypatch.setitem(
        pretrained_weights.KNOWN_WEIGHTS, 'deeplabv2-resnet101-imagenet',
        dict(url='http://127.0.0.1:9/DeepLab_init.pth',
             filename=DEEPLAB_FILE, arch='deeplabv2-init'))
    with pytest.raises(FileNotFoundError) as err:
        pretrained_weights.resolve_weights(
            'bdl://deeplabv2-resnet101-imagenet')
    msg = str(err.value)
    assert 'http://127.0.0.1:9/DeepLab_init.pth is unreachable' in msg
    assert f'put it at checkpoints/{DEEPLAB_FILE}' in msg
    assert '\n' not in msg


def test_found_in_working_dir_checkpoints_before_cache(
        ckpt_dir, tmp_path, monkeypatch):
    monkeypatch.delenv('MMBDL_CHECKPOINTS')
    work = tmp_path / 'work'
    (work / 'checkpoints').mkdir(parents=True)
    monkeypatch.chdir(work)
    torch.save({'Scale.conv1.weight': torch.zeros(1)},
               work / 'checkpoints' / DEEPLAB_FILE)
    found = pretrained_weights.resolve_weights(
        'deeplabv2-resnet101-imagenet')
    assert found['path'] == str(work / 'checkpoints' / DEEPLAB_FILE)
    assert found['arch'] == 'deeplabv2-init'


def test_checkpoint_of_another_architecture_lists_keys(ckpt_dir):
    vgg = {'conv1_1.weight': torch.zeros(4, 3, 3, 3),
           'fc6.weight': torch.zeros(16, 8, 7, 7)}
    # a VGG file saved under the DeepLab init's name: nothing converts
    torch.save(vgg, ckpt_dir / DEEPLAB_FILE)
    model = MODELS.build(_small_deeplab_cfg())
    with pytest.raises(ValueError) as err:
        model.init_weights()
    assert 'nothing converted as deeplabv2-init' in str(err.value)
    assert "['conv1_1.weight', 'fc6.weight']" in str(err.value)
    # a release FCN-8s file given by path: converted, but it fits no key of
    # the ResNet: both key lists are shown
    path = ckpt_dir / 'release_fcn8s.pth'
    torch.save(vgg, path)
    cfg = _small_deeplab_cfg()
    cfg.backbone.init_cfg.checkpoint = f'bdl://{path}'
    model = MODELS.build(cfg)
    with pytest.raises(ValueError) as err:
        model.init_weights()
    msg = str(err.value)
    assert '0/' in msg and 'keys matched' in msg
    assert "Checkpoint keys: ['conv1_1.weight', 'fc6.weight']" in msg
    assert 'bn1.bias' in msg  # module keys


def test_plain_pretrained_with_wrong_prefix_suggests_fix(tmp_path):
    model = MODELS.build(_small_deeplab_cfg())
    path = str(tmp_path / 'plain.pth')
    # backbone weights saved without the 'backbone.' prefix the init expects
    torch.save({'state_dict': model.backbone.state_dict()}, path)
    model.backbone.init_cfg = dict(type='Pretrained', checkpoint=path,
                                   prefix='backbone.')
    model.backbone._is_init = False
    with pytest.raises(ValueError) as err:
        model.backbone.init_weights()
    assert "no key starts with 'backbone.'" in str(err.value)
    assert "remove the prefix 'backbone.'" in str(err.value)


def test_suggest_prefix_fix():
    target = ['segmentor.segmentor.backbone.conv1.weight',
              'segmentor.segmentor.decode_head.conv.weight']
    ckpt = ['backbone.conv1.weight', 'decode_head.conv.weight']
    fix = suggest_prefix_fix(ckpt, target)
    assert fix.startswith("add the prefix 'segmentor.segmentor.'")
    match = match_keys({k: torch.zeros(1) for k in ckpt},
                       {k: torch.zeros(1) for k in target}, 'x')
    assert match.ratio == 0 and len(match.unexpected) == 2
