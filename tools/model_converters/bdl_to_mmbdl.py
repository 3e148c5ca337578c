"""Convert BDL's released checkpoints to mmbdl's parameter names.

Handles the PyTorch state dicts of the BDL release (and of AdaptSegNet,
which it builds on), and torchvision's VGG-16. The key mapping is
:mod:`mmbdl.utils.weights.release_state_dict`, which configs also use to
convert these files on load (``init_cfg`` with ``checkpoint='bdl://...'``):

- ``deeplabv2``: a trained DeepLab-v2 ResNet-101 (``conv1``, ``bn1``,
  ``layer1..4.*``, ``layer5.conv2d_list.{0..3}.*``);
- ``deeplabv2-init``: the ImageNet/COCO initialisation the release trains
  from (``DeepLab_resnet_pretrained_init-f81d91e8.pth``: every key under
  ``Scale.``; its ``layer5`` has another class count and is dropped unless it
  matches ``--num-classes``, exactly as the release's loader does);
- ``fcn8s-vgg16``: FCN-8s VGG-16 (``conv1_1`` ... ``fc7``, ``score_*``,
  ``upscore*``);
- ``torchvision-vgg16``: torchvision's ImageNet VGG-16 (fc6 / fc7 reshaped
  to convolutions, fc8 dropped);
- ``discriminator``: the output-space D (``conv1..4``, ``classifier``);
- ``dinov2``: an official DINOv2 ViT-S/B/L/14 checkpoint (``cls_token``,
  ``blocks.N.*``, ...) to ``DINOv2VisionTransformer`` keys (``backbone.*``;
  ``mask_token`` kept: a backbone without one leaves it out on load).
  Configs need no converted file: their
  ``bdl://dinov2-vitb14`` init converts on load.

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
import os.path as osp
import sys
from collections import OrderedDict
from typing import Dict, Tuple

import torch
from torch import Tensor

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

# the key mapping lives in the package, shared with the `bdl://` scheme that
# converts release files when a config's init_cfg loads them
# (ARCHS, detect_arch and unwrap_state_dict are re-exported for the tests
# and callers of this script; isort's two layouts of this noqa'd import
# alternate, so it is left out of isort)
from mmbdl.utils.atomic_write import atomic_path  # noqa: E402

# isort: off
from mmbdl.utils.weights import (  # noqa: E402,F401
    ARCHS, convert_release_state_dict, detect_arch, unwrap_state_dict)
# isort: on


def convert(state, arch: str = 'auto', num_classes=19, prefix: str = ''):
    """Convert a release state dict (see
    :func:`mmbdl.utils.weights.release_state_dict.convert_release_state_dict`).
    """
    return convert_release_state_dict(state, arch, num_classes, prefix)


def compare_with_model(state: Dict[str, Tensor], model: torch.nn.Module,
                       allow_missing: Tuple[str, ...] = ()) -> str:
    """Check that a converted state dict fits a model exactly.

    Args:
        state (dict): Converted state dict.
        model (nn.Module): The model it is meant for.
        allow_missing (tuple[str]): Key prefixes that may be missing (e.g.
            'decode_head.' for an ImageNet initialisation).

    Returns:
        str: The matched / missing / unexpected key counts.

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
    matched = sum(k in state and state[k].shape == v.shape
                  for k, v in expected.items())
    counts = (f'{matched}/{len(expected)} model keys matched, '
              f'{len(missing)} missing, {len(unexpected)} unexpected, '
              f'{len(shapes)} with another shape')
    if missing or unexpected or shapes:
        def show(items):
            more = f' ... (+{len(items) - 10} more)' if len(items) > 10 \
                else ''
            return ', '.join(items[:10]) + more

        raise ValueError(
            f'the checkpoint does not fit the model ({counts}; another '
            'architecture or class count?):\n'
            f'  missing keys ({len(missing)}): {show(missing)}\n'
            f'  unexpected keys ({len(unexpected)}): {show(unexpected)}\n'
            f'  shape mismatches ({len(shapes)}): {show(shapes)}\n'
            'pick the config of the architecture the checkpoint was trained '
            'with, or check --arch / --prefix / --num-classes')
    return counts


def save_atomic(obj, path: str) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename."""
    with atomic_path(path, what='converted checkpoint') as tmp:
        torch.save(obj, tmp)


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
    counts = None
    try:
        state, dropped, arch = convert(
            checkpoint, args.arch, args.num_classes or None, args.prefix)
        if args.config:
            model = _model_from_config(args.config, arch)
            plain = OrderedDict(
                (k[len(args.prefix):], v) for k, v in state.items())
            counts = compare_with_model(
                plain, model,
                ('decode_head.', ) if arch in ('deeplabv2-init',
                                               'torchvision-vgg16') else ())
    except ValueError as err:
        print(f'error: {args.src}: {err}', file=sys.stderr)
        return 1
    save_atomic(dict(state_dict=state,
                     meta=dict(source=osp.basename(args.src), arch=arch,
                               converter='bdl_to_mmbdl')), args.dst)
    print(f'{arch}: {len(state)} tensors written to {args.dst}')
    if counts:
        print(f'checked against {args.config}: {counts}')
    if dropped:
        print(f'dropped {len(dropped)} keys: {", ".join(dropped[:10])}'
              + (' ...' if len(dropped) > 10 else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
