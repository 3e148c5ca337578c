"""Key mapping from the BDL release's state dicts to mmbdl's modules.

One definition shared by ``tools/model_converters/bdl_to_mmbdl.py`` (which
writes converted files) and the ``bdl://`` checkpoint scheme
(:mod:`mmbdl.utils.weights.pretrained_weights`, which converts in memory when a
config's ``init_cfg`` loads a release file). Layouts handled:

- ``deeplabv2``: a trained DeepLab-v2 ResNet-101 of the release (``conv1``,
  ``bn1``, ``layer1..4.*``, ``layer5.conv2d_list.{0..3}.*``);
- ``deeplabv2-init``: the ImageNet initialisation the release trains from
  (``DeepLab_resnet_pretrained_init-f81d91e8.pth``): the same keys under
  ``Scale.``; its ``layer5`` has another class count and is dropped unless it
  has ``num_classes`` outputs, as the release's loader does;
- ``fcn8s-vgg16``: FCN-8s VGG-16 of the release, also the layout of its
  per-data-set VGG "initial weights" (``conv1_1`` ... ``fc7``, ``score_*``,
  ``upscore*``);
- ``torchvision-vgg16``: torchvision's ImageNet VGG-16 (``features.N``,
  ``classifier.{0,3,6}``): the 13 convolutions map to ``conv{b}_{i}``, the
  fully connected fc6 / fc7 are reshaped to 7x7 / 1x1 convolutions and the
  1000-class fc8 is dropped;
- ``discriminator``: the output-space D (``conv1..4``, ``classifier``);
- ``dinov2``: the official DINOv2 ViT checkpoints (not a BDL file; the key
  map is :mod:`mmbdl.utils.weights.dinov2_state_dict`).

Keys map to :class:`BDLEncoderDecoder` (``backbone.*``, ``decode_head.*``)
or :class:`FCDiscriminator` (``layers.{0,2,4,6,8}.*``). BatchNorm
``num_batches_tracked`` buffers missing from files of PyTorch < 0.4.1 are
added as 0.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor

from ..errors import ConfigCheckError
from .dinov2_state_dict import convert_dinov2, is_dinov2

ARCHS = ('deeplabv2', 'deeplabv2-init', 'fcn8s-vgg16', 'torchvision-vgg16',
         'discriminator', 'dinov2')
_VGG_BACKBONE = re.compile(r'^(conv\d_\d|fc6|fc7)\.')
_VGG_HEAD = re.compile(r'^(score_fr|score_pool3|score_pool4|upscore2|'
                       r'upscore8|upscore_pool4)\.')
_DISC_LAYERS = {'conv1': 0, 'conv2': 2, 'conv3': 4, 'conv4': 6,
                'classifier': 8}
# (convolutions per block) of VGG-16; torchvision's `features` interleaves
# each conv with a ReLU and ends every block with a max-pool
_VGG16_CONVS = (2, 2, 3, 3, 3)


def unwrap_state_dict(checkpoint) -> 'OrderedDict[str, Tensor]':
    """The plain state dict of a loaded checkpoint.

    ``state_dict`` / ``model`` entries are unpacked and DataParallel's
    ``module.`` prefix is removed.

    Args:
        checkpoint: What ``torch.load`` returned.

    Returns:
        OrderedDict: Parameter name -> tensor.

    Raises:
        ValueError: If it holds no state dict.
    """
    state = checkpoint
    if isinstance(state, dict):
        for key in ('state_dict', 'model'):
            if key in state and isinstance(state[key], dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not state:
        raise ConfigCheckError('the checkpoint holds no state dict')
    if all(k.startswith('module.') for k in state):
        state = {k[len('module.'):]: v for k, v in state.items()}
    return OrderedDict(state)


def detect_arch(state: Dict[str, Tensor]) -> str:
    """Guess which released model a state dict belongs to.

    Args:
        state (dict): A plain state dict.

    Returns:
        str: One of :data:`ARCHS`.

    Raises:
        ValueError: If it matches none (the message lists some keys).
    """
    keys = set(state)
    if keys and all(k.startswith('Scale.') for k in keys):
        return 'deeplabv2-init'
    if 'layer5.conv2d_list.0.weight' in keys and 'conv1.weight' in keys:
        return 'deeplabv2'
    if 'conv1_1.weight' in keys and 'fc6.weight' in keys:
        return 'fcn8s-vgg16'
    if 'features.0.weight' in keys and 'classifier.0.weight' in keys:
        return 'torchvision-vgg16'
    if 'classifier.weight' in keys and 'conv4.weight' in keys:
        return 'discriminator'
    if is_dinov2(keys):
        return 'dinov2'
    raise ConfigCheckError(
        'not a BDL DeepLab-v2 / FCN-8s VGG-16 / torchvision VGG-16 / '
        'discriminator or DINOv2 checkpoint; first keys: '
        f'{sorted(keys)[:8]}; name the layout explicitly if it is one of '
        f'{ARCHS} with other key names')


def _add_bn_counters(state: 'OrderedDict[str, Tensor]') -> None:
    for key in list(state):
        if key.endswith('.running_mean'):
            counter = key[:-len('running_mean')] + 'num_batches_tracked'
            if counter not in state:
                state[counter] = torch.tensor(0, dtype=torch.long)


def convert_deeplabv2(state: Dict[str, Tensor],
                      num_classes: Optional[int] = 19,
                      init: bool = False) -> Tuple[dict, List[str]]:
    """Map DeepLab-v2 keys to ``backbone.*`` / ``decode_head.*``.

    Args:
        state (dict): Release state dict.
        num_classes (int, optional): Keep the classifier only if it has this
            many outputs; None keeps it always. Defaults to 19.
        init (bool): The keys are under ``Scale.`` (ImageNet init).
            Defaults to False.

    Returns:
        tuple[dict, list[str]]: Converted state dict and dropped keys.
    """
    out, dropped = OrderedDict(), []
    for key, value in state.items():
        if init:
            if not key.startswith('Scale.'):
                dropped.append(key)
                continue
            key = key[len('Scale.'):]
        match = re.match(r'^layer5\.conv2d_list\.(\d+)\.(weight|bias)$', key)
        if match:
            if num_classes is not None and value.shape[0] != num_classes:
                dropped.append(key)
                continue
            out[f'decode_head.classifiers.{match[1]}.{match[2]}'] = value
        elif key.startswith('layer5.'):
            dropped.append(key)
        else:
            out[f'backbone.{key}'] = value
    _add_bn_counters(out)
    return out, dropped


def convert_fcn8s(state: Dict[str, Tensor]) -> Tuple[dict, List[str]]:
    """Map FCN-8s VGG-16 keys to ``backbone.*`` / ``decode_head.*``.

    Args:
        state (dict): Release state dict.

    Returns:
        tuple[dict, list[str]]: Converted state dict and dropped keys.
    """
    out, dropped = OrderedDict(), []
    for key, value in state.items():
        if _VGG_BACKBONE.match(key):
            out[f'backbone.{key}'] = value
        elif _VGG_HEAD.match(key):
            out[f'decode_head.{key}'] = value
        else:
            dropped.append(key)
    return out, dropped


def torchvision_vgg16_names() -> Dict[str, str]:
    """torchvision ``features.N`` / ``classifier.N`` -> FCN-8s layer names.

    Returns:
        dict[str, str]: e.g. ``'features.0'`` -> ``'conv1_1'``,
        ``'classifier.0'`` -> ``'fc6'``, ``'classifier.3'`` -> ``'fc7'``.
    """
    names, index = {}, 0
    for block, convs in enumerate(_VGG16_CONVS, start=1):
        for i in range(1, convs + 1):
            names[f'features.{index}'] = f'conv{block}_{i}'
            index += 2  # conv, ReLU
        index += 1  # max-pool
    names['classifier.0'] = 'fc6'
    names['classifier.3'] = 'fc7'
    return names


def convert_torchvision_vgg16(
        state: Dict[str, Tensor]) -> Tuple[dict, List[str]]:
    """Map torchvision's VGG-16 to ``backbone.*`` of :class:`VGG16FCN`.

    fc6 (``classifier.0``, 4096 x 25088) becomes a 7x7 convolution over the
    512 channels of pool5 (torchvision flattens channel-major, so the weight
    reshapes to (4096, 512, 7, 7)); fc7 becomes a 1x1 convolution; fc8
    (``classifier.6``, 1000 ImageNet classes) is dropped.

    Args:
        state (dict): torchvision state dict.

    Returns:
        tuple[dict, list[str]]: Converted state dict and dropped keys.
    """
    names = torchvision_vgg16_names()
    out, dropped = OrderedDict(), []
    for key, value in state.items():
        module, _, param = key.rpartition('.')
        name = names.get(module)
        if name is None:
            dropped.append(key)
            continue
        if name in ('fc6', 'fc7') and param == 'weight':
            if name == 'fc6':
                channels = value.shape[1] // 49
                value = value.reshape(value.shape[0], channels, 7, 7)
            else:
                value = value.reshape(value.shape[0], value.shape[1], 1, 1)
        out[f'backbone.{name}.{param}'] = value
    return out, dropped


def convert_discriminator(
        state: Dict[str, Tensor]) -> Tuple[dict, List[str]]:
    """Map FCDiscriminator keys to ``layers.N.*``.

    Args:
        state (dict): Release state dict.

    Returns:
        tuple[dict, list[str]]: Converted state dict and dropped keys.
    """
    out, dropped = OrderedDict(), []
    for key, value in state.items():
        name, _, param = key.partition('.')
        if name in _DISC_LAYERS:
            out[f'layers.{_DISC_LAYERS[name]}.{param}'] = value
        else:
            dropped.append(key)
    return out, dropped


def convert_release_state_dict(
        state,
        arch: str = 'auto',
        num_classes: Optional[int] = 19,
        prefix: str = '') -> Tuple['OrderedDict[str, Tensor]', List[str],
                                   str]:
    """Convert a release (or torchvision VGG-16) state dict to mmbdl keys.

    Args:
        state: Release checkpoint (may be wrapped, see
            :func:`unwrap_state_dict`).
        arch (str): One of :data:`ARCHS` or 'auto'. Defaults to 'auto'.
        num_classes (int, optional): See :func:`convert_deeplabv2`.
            Defaults to 19.
        prefix (str): Prepended to every converted key. Defaults to ''.

    Returns:
        tuple: (converted state dict, dropped keys, architecture).

    Raises:
        ValueError: For an unknown layout or when nothing converts.
    """
    state = unwrap_state_dict(state)
    if arch == 'auto':
        arch = detect_arch(state)
    if arch not in ARCHS:
        raise ConfigCheckError(
            f'arch must be one of {ARCHS} or auto, got {arch}')
    if arch in ('deeplabv2', 'deeplabv2-init'):
        out, dropped = convert_deeplabv2(state, num_classes,
                                         init=arch == 'deeplabv2-init')
    elif arch == 'fcn8s-vgg16':
        out, dropped = convert_fcn8s(state)
    elif arch == 'torchvision-vgg16':
        out, dropped = convert_torchvision_vgg16(state)
    elif arch == 'dinov2':
        out, dropped = convert_dinov2(state)
    else:
        out, dropped = convert_discriminator(state)
    if not out:
        raise ConfigCheckError(f'nothing converted as {arch}: no key matched; '
                               f'first keys: {sorted(state)[:8]}')
    out = OrderedDict((prefix + k, v) for k, v in out.items())
    return out, dropped, arch
