"""Convert BDL's released checkpoints to mmbdl's parameter names.

Handles the four kinds of PyTorch state dicts of the BDL release (and of
AdaptSegNet, which it builds on):

- ``deeplabv2``: a trained DeepLab-v2 ResNet-101 (``conv1``, ``bn1``,
  ``layer1..4.*``, ``layer5.conv2d_list.{0..3}.*``);
- ``deeplabv2-init``: the ImageNet/COCO initialisation the release trains
  from (``DeepLab_resnet_pretrained_init-f81d91e8.pth``: every key under
  ``Scale.``; its ``layer5`` has another class count and is dropped unless it
  matches ``--num-classes``, exactly as the release's loader does);
- ``fcn8s-vgg16``: FCN-8s VGG-16 (``conv1_1`` ... ``fc7``, ``score_*``,
  ``upscore*``);
- ``discriminator``: the output-space D (``conv1..4``, ``classifier``).

Keys map to :class:`BDLEncoderDecoder` (``backbone.*``, ``decode_head.*``)
or :class:`FCDiscriminator` (``layers.{0,2,4,6,8}.*``), optionally under a
``--prefix`` (``segmentor.`` for ``AdvSelfTrainingSegmentor`` configs,
``discriminator.`` for D inside it). Missing BatchNorm ``num_batches_tracked``
buffers (checkpoints of PyTorch < 0.4.1) are added as 0. ``--config``
builds the config's model and checks the converted keys and shapes against
it, listing missing and unexpected keys (a checkpoint for another
architecture fails there, not at training time).

Example::

    python tools/model_converters/bdl_to_mmbdl.py \\
        DeepLab_resnet_pretrained_init-f81d91e8.pth \\
        checkpoints/deeplabv2_r101_init_mmbdl.pth \\
        --config configs/_base_/models/deeplabv2_r101.py
"""
import argparse
import os
import os.path as osp
import re
import sys
import tempfile
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor

ARCHS = ('deeplabv2', 'deeplabv2-init', 'fcn8s-vgg16', 'discriminator')
_VGG_BACKBONE = re.compile(r'^(conv\d_\d|fc6|fc7)\.')
_VGG_HEAD = re.compile(r'^(score_fr|score_pool3|score_pool4|upscore2|'
                       r'upscore8|upscore_pool4)\.')
_DISC_LAYERS = {'conv1': 0, 'conv2': 2, 'conv3': 4, 'conv4': 6,
                'classifier': 8}


def unwrap_state_dict(checkpoint) -> 'OrderedDict[str, Tensor]':
    """Return the plain state dict (``state_dict``/``model`` entries and
    DataParallel's ``module.`` prefix removed)."""
    state = checkpoint
    if isinstance(state, dict):
        for key in ('state_dict', 'model'):
            if key in state and isinstance(state[key], dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not state:
        raise ValueError('the checkpoint holds no state dict')
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
    if 'classifier.weight' in keys and 'conv4.weight' in keys:
        return 'discriminator'
    raise ValueError(
        'not a BDL DeepLab-v2 / FCN-8s VGG-16 / discriminator checkpoint; '
        f'first keys: {sorted(keys)[:8]}; pass --arch if it is one of '
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


def convert(state: Dict[str, Tensor],
            arch: str = 'auto',
            num_classes: Optional[int] = 19,
            prefix: str = '') -> Tuple[dict, List[str], str]:
    """Convert a release state dict.

    Args:
        state (dict): Release state dict (may be wrapped, see
            :func:`unwrap_state_dict`).
        arch (str): One of :data:`ARCHS` or 'auto'. Defaults to 'auto'.
        num_classes (int, optional): See :func:`convert_deeplabv2`.
        prefix (str): Prepended to every converted key. Defaults to ''.

    Returns:
        tuple: (converted state dict, dropped keys, architecture).
    """
    state = unwrap_state_dict(state)
    if arch == 'auto':
        arch = detect_arch(state)
    if arch not in ARCHS:
        raise ValueError(f'--arch must be one of {ARCHS} or auto, got {arch}')
    if arch in ('deeplabv2', 'deeplabv2-init'):
        out, dropped = convert_deeplabv2(state, num_classes,
                                         init=arch == 'deeplabv2-init')
    elif arch == 'fcn8s-vgg16':
        out, dropped = convert_fcn8s(state)
    else:
        out, dropped = convert_discriminator(state)
    if not out:
        raise ValueError(f'nothing converted as {arch}: no key matched; '
                         f'first keys: {sorted(state)[:8]}')
    out = OrderedDict((prefix + k, v) for k, v in out.items())
    return out, dropped, arch


def compare_with_model(state: Dict[str, Tensor], model: torch.nn.Module,
                       allow_missing: Tuple[str, ...] = ()) -> None:
    """Check that a converted state dict fits a model exactly.

    Args:
        state (dict): Converted state dict.
        model (nn.Module): The model it is meant for.
        allow_missing (tuple[str]): Key prefixes that may be missing (e.g.
            'decode_head.' for an ImageNet initialisation).

    Raises:
        ValueError: Listing missing keys, unexpected keys and shape
            mismatches.
    """
    expected = model.state_dict()
    missing = [k for k in expected
               if k not in state and not k.startswith(allow_missing)]
    unexpected = [k for k in state if k not in expected]
    shapes = [f'{k}: checkpoint {tuple(state[k].shape)} vs model '
              f'{tuple(expected[k].shape)}' for k in state
              if k in expected and state[k].shape != expected[k].shape]
    if missing or unexpected or shapes:
        def show(items):
            more = f' ... (+{len(items) - 10} more)' if len(items) > 10 \
                else ''
            return ', '.join(items[:10]) + more

        raise ValueError(
            'the checkpoint does not fit the model (another architecture '
            'or class count?):\n'
            f'  missing keys ({len(missing)}): {show(missing)}\n'
            f'  unexpected keys ({len(unexpected)}): {show(unexpected)}\n'
            f'  shape mismatches ({len(shapes)}): {show(shapes)}\n'
            'pick the config of the architecture the checkpoint was trained '
            'with, or check --arch / --prefix / --num-classes')


def save_atomic(obj, path: str) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix='.tmp')
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert BDL release checkpoints to mmbdl keys')
    parser.add_argument('src', help='release checkpoint (.pth)')
    parser.add_argument('dst', help='output checkpoint (.pth)')
    parser.add_argument('--arch', default='auto', choices=('auto', ) + ARCHS)
    parser.add_argument(
        '--num-classes', type=int, default=19,
        help='keep the DeepLab classifier only with this many classes '
        '(default 19; 0 keeps it whatever its size)')
    parser.add_argument(
        '--prefix', default='',
        help="prefix for every key, e.g. 'segmentor.' to load into an "
        "AdvSelfTrainingSegmentor or 'segmentor.discriminator.'")
    parser.add_argument(
        '--config', help='check the result against this config\'s model '
        '(the segmentor inside an AdvSelfTrainingSegmentor config)')
    return parser.parse_args(argv)


def _model_from_config(path: str, arch: str) -> torch.nn.Module:
    from mmengine.config import Config

    from mmbdl.registry import MODELS
    from mmbdl.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(path).model
    if cfg.get('type') == 'AdvSelfTrainingSegmentor':
        cfg = cfg.discriminator if arch == 'discriminator' else cfg.segmentor
    return MODELS.build(cfg)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not osp.isfile(args.src):
        print(f'error: {args.src} does not exist', file=sys.stderr)
        return 1
    checkpoint = torch.load(args.src, map_location='cpu', weights_only=True)
    try:
        state, dropped, arch = convert(
            checkpoint, args.arch, args.num_classes or None, args.prefix)
        if args.config:
            model = _model_from_config(args.config, arch)
            plain = OrderedDict(
                (k[len(args.prefix):], v) for k, v in state.items())
            compare_with_model(
                plain, model,
                ('decode_head.', ) if arch == 'deeplabv2-init' else ())
    except ValueError as err:
        print(f'error: {args.src}: {err}', file=sys.stderr)
        return 1
    save_atomic(dict(state_dict=state,
                     meta=dict(source=osp.basename(args.src), arch=arch,
                               converter='bdl_to_mmbdl')), args.dst)
    print(f'{arch}: {len(state)} tensors written to {args.dst}')
    if dropped:
        print(f'dropped {len(dropped)} keys: {", ".join(dropped[:10])}'
              + (' ...' if len(dropped) > 10 else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
