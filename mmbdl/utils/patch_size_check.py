"""Config check: crops must be whole patches of a DINOv2 backbone.

DINOv2's patch embedding does not pad, so every training crop that reaches
a ViT M (its own crops and F's, whose images go through M for the
perceptual loss) must be a multiple of the patch size. A config with
another crop is refused when it is loaded, with the nearest valid crops.
(Whole-image testing pads instead: ``test_cfg=dict(size_divisor=14)`` of
the data preprocessor.) A backbone that resizes its input
(``input_resize``, VFM-UDA's ``int(1.1 * crop) // 14 * 14``) sees whole
patches of any crop, but a square one only: its crops must be square.
"""
from typing import Iterator, List, Tuple

from .errors import ConfigCheckError

VIT_TYPES = ('DINOv2VisionTransformer', 'mmbdl.DINOv2VisionTransformer')
CROP_TYPES = ('RandomCrop', 'mmseg.RandomCrop', 'mmagic.Crop', 'Crop',
              'CenterCrop', 'mmagic.CenterCrop')


def _walk(node, path: str) -> Iterator[Tuple[str, dict]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f'{path}.{key}' if path else str(key))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _walk(value, f'{path}[{i}]')


def vit_patch_sizes(model_cfg) -> List[int]:
    """Patch sizes of the DINOv2 backbones in a model config."""
    return sorted({int(d.get('patch_size', 14)) for _, d in
                   _walk(model_cfg, 'model') if d.get('type') in VIT_TYPES})


def _resizes_input(model_cfg) -> bool:
    """Whether every DINOv2 backbone of a model config resizes its input
    to a square of whole patches (``input_resize``)."""
    vits = [d for _, d in _walk(model_cfg, 'model')
            if d.get('type') in VIT_TYPES]
    return bool(vits) and all(d.get('input_resize') for d in vits)


def _pair(size) -> Tuple[int, int]:
    if isinstance(size, int):
        return size, size
    return int(size[0]), int(size[1])


def _nearest(size: int, patch: int) -> List[int]:
    if size % patch == 0:
        return [size]
    below = size // patch * patch
    return [m for m in (below, below + patch) if m > 0]


def check_patch_sizes(cfg) -> None:
    """Refuse crops that are not a multiple of a DINOv2 backbone's patch.

    Args:
        cfg (Config | dict): The whole config.

    Raises:
        ConfigCheckError: Naming the transform, its crop and the nearest
            valid crops.
    """
    patches = vit_patch_sizes(cfg.get('model', {}))
    if not patches:
        return
    # what the runner and the loop build data from (not helper variables
    # such as a base's unused `unpaired_pipeline`)
    used = {k: v for k, v in cfg.items()
            if k.endswith('dataloader') or k == 'train_cfg'}
    square_only = _resizes_input(cfg.get('model', {}))
    for path, node in _walk(used, ''):
        if node.get('type') not in CROP_TYPES or 'crop_size' not in node:
            continue
        crop = _pair(node['crop_size'])
        if square_only:
            if crop[0] != crop[1]:
                sides = sorted(set(crop))
                raise ConfigCheckError(
                    f'{path}: crop_size {tuple(node["crop_size"])} is not '
                    'square; the DINOv2 backbone resizes its input to a '
                    'square of whole patches (input_resize), which only a '
                    'square crop keeps undistorted; nearest valid crops: '
                    + ' or '.join(f'({v}, {v})' for v in sides))
            continue
        for patch in patches:
            if crop[0] % patch or crop[1] % patch:
                valid = ' or '.join(
                    f'({h}, {w})' for h in _nearest(crop[0], patch)
                    for w in _nearest(crop[1], patch)
                    if (h == w) == (crop[0] == crop[1]))
                raise ConfigCheckError(
                    f'{path}: crop_size {tuple(node["crop_size"])} is not a '
                    f'multiple of the DINOv2 patch size {patch} (M sees '
                    f'whole patches only); nearest valid crops: {valid}')
