"""The VFM-UDA release's border ignore mask of target images, and the
geometric transforms and the packing that carry it.

The release zeroes the pseudo-label weight of a target image's borders (3%
at the top, left and right, 25% at the bottom). :class:`BorderIgnoreMask`
draws that mask on the image as loaded, as ``results['gt_ignore_mask']``,
and lists it in ``results['seg_fields']``.

MMSegmentation's ``RandomCrop``, ``Resize`` and ``RandomFlip`` move every
map of ``seg_fields``, but MMCV's ``Resize``, ``RandomFlip`` and ``Pad``
move only ``gt_seg_map``, and which of them a type name gives depends on
the default scope (MMCV's ``RandomResize`` builds its inner ``Resize`` by
name): a mask left unresized would then be cropped to the right shape at
the wrong place, without error. :class:`SegFieldsRandomResize`,
:class:`SegFieldsPad` and :class:`SegFieldsRandomFlip` move every map of
``seg_fields`` whatever the scope (nearest-neighbour resizing, padding with
the ``seg`` pad value). :class:`PackSegInputsWithIgnoreMask` puts the mask
into the data sample as ``ignore_mask``.
"""
from typing import Optional

import mmcv
import numpy as np
import torch
from mmcv.transforms import BaseTransform, Pad, RandomFlip, RandomResize
from mmcv.transforms import Resize as MMCVResize
from mmengine.structures import PixelData

from mmbdl.registry import TRANSFORMS
from mmbdl.utils.errors import ConfigCheckError
from .pack_bdl_seg_inputs import PackBDLSegInputs

IGNORE_MASK = 'gt_ignore_mask'


def border_ignore_mask(h: int,
                       w: int,
                       top: float = 0.03,
                       bottom: float = 0.25,
                       left: float = 0.03,
                       right: float = 0.03,
                       ignore_index: int = 255) -> np.ndarray:
    """The release's border mask of an ``h`` x ``w`` image.

    The first ``int(top * h)`` rows, the last ``int(bottom * h)`` rows, the
    first ``int(left * w)`` and the last ``int(right * w)`` columns are
    ``ignore_index``, the rest 0. (The release writes ``mask[-n:]``, which
    would cover the whole image for ``n = 0``; here a border of 0 pixels
    is no border.)

    Args:
        h (int): Image height.
        w (int): Image width.
        top (float): Fraction of the height at the top. Defaults to 0.03.
        bottom (float): Fraction of the height at the bottom. Defaults to
            0.25.
        left (float): Fraction of the width at the left. Defaults to 0.03.
        right (float): Fraction of the width at the right. Defaults to 0.03.
        ignore_index (int): Value of the ignored pixels. Defaults to 255.

    Returns:
        np.ndarray: uint8 mask of shape ``(h, w)``.
    """
    mask = np.zeros((h, w), dtype=np.uint8)
    n_top, n_bottom = int(top * h), int(bottom * h)
    n_left, n_right = int(left * w), int(right * w)
    mask[:n_top] = ignore_index
    if n_bottom > 0:
        mask[-n_bottom:] = ignore_index
    mask[:, :n_left] = ignore_index
    if n_right > 0:
        mask[:, -n_right:] = ignore_index
    return mask


def _add_seg_field(results: dict, key: str) -> None:
    fields = results.setdefault('seg_fields', [])
    if key not in fields:
        fields.append(key)


def _other_seg_fields(results: dict):
    """The maps of ``seg_fields`` that MMCV's transforms leave alone."""
    return [k for k in results.get('seg_fields', [])
            if k != 'gt_seg_map' and results.get(k) is not None]


@TRANSFORMS.register_module()
class BorderIgnoreMask(BaseTransform):
    """Mark the borders of the loaded image as ignored for pseudo-labels.

    Put it right after ``LoadImageFromFile`` (the release draws the mask on
    the original image grid), and move it with :class:`SegFieldsRandomResize`
    / ``RandomCrop`` / :class:`SegFieldsPad` / :class:`SegFieldsRandomFlip`.

    Required Keys: ``img``.
    Added Keys: ``gt_ignore_mask`` (uint8 HxW, ``ignore_index`` = ignored,
    0 elsewhere), ``seg_fields``.

    Args:
        top (float): Fraction of the height ignored at the top. Defaults to
            0.03 (the release's).
        bottom (float): At the bottom. Defaults to 0.25 (the release's).
        left (float): Fraction of the width at the left. Defaults to 0.03
            (the release's).
        right (float): At the right. Defaults to 0.03 (the release's).
        ignore_index (int): Defaults to 255.
    """

    def __init__(self,
                 top: float = 0.03,
                 bottom: float = 0.25,
                 left: float = 0.03,
                 right: float = 0.03,
                 ignore_index: int = 255) -> None:
        for name, value in (('top', top), ('bottom', bottom),
                            ('left', left), ('right', right)):
            if not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ConfigCheckError(
                    f'BorderIgnoreMask: {name} must be a fraction of the '
                    f'image size in [0, 1), got {value!r}')
        if top + bottom >= 1 or left + right >= 1:
            raise ConfigCheckError(
                'BorderIgnoreMask: top + bottom and left + right must be < '
                f'1 (got {top + bottom}, {left + right}); lower them')
        self.top, self.bottom = top, bottom
        self.left, self.right = left, right
        self.ignore_index = ignore_index

    def transform(self, results: dict) -> dict:
        """Add ``gt_ignore_mask`` of the image's size.

        Args:
            results (dict): Result dict of the pipeline.

        Returns:
            dict: The updated results.
        """
        h, w = results['img'].shape[:2]
        results[IGNORE_MASK] = border_ignore_mask(
            h, w, self.top, self.bottom, self.left, self.right,
            self.ignore_index)
        _add_seg_field(results, IGNORE_MASK)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(top={self.top}, '
                f'bottom={self.bottom}, left={self.left}, '
                f'right={self.right}, ignore_index={self.ignore_index})')


class _SegFieldsResize(MMCVResize):
    """MMCV's ``Resize`` that resizes every map of ``seg_fields``."""

    def _resize_seg(self, results: dict) -> None:
        super()._resize_seg(results)
        resize = mmcv.imrescale if self.keep_ratio else mmcv.imresize
        for key in _other_seg_fields(results):
            results[key] = resize(results[key], results['scale'],
                                  interpolation='nearest',
                                  backend=self.backend)


@TRANSFORMS.register_module()
class SegFieldsRandomResize(RandomResize):
    """MMCV's ``RandomResize`` that also resizes the other ``seg_fields``.

    Every map listed in ``results['seg_fields']`` besides ``gt_seg_map``
    (e.g. ``gt_ignore_mask``) is resized like ``gt_seg_map``
    (nearest-neighbour, same target size as the image).

    Args:
        scale, ratio_range, **resize_kwargs: As in MMCV's ``RandomResize``
            (``resize_type`` must be MMCV's ``Resize``).
    """

    def __init__(self,
                 scale,
                 ratio_range: Optional[tuple] = None,
                 resize_type: str = 'Resize',
                 **resize_kwargs) -> None:
        if resize_type != 'Resize':
            raise ConfigCheckError(
                f'SegFieldsRandomResize: resize_type must be Resize, got '
                f'{resize_type!r}; remove resize_type')
        super().__init__(scale, ratio_range, resize_type, **resize_kwargs)
        self.resize = _SegFieldsResize(scale=0, **resize_kwargs)


@TRANSFORMS.register_module()
class SegFieldsPad(Pad):
    """MMCV's ``Pad`` that also pads the other ``seg_fields``.

    They are padded like ``gt_seg_map``, with ``pad_val['seg']`` (255 by
    default: padded pixels are ignored).
    """

    def _pad_seg(self, results: dict) -> None:
        super()._pad_seg(results)
        for key in _other_seg_fields(results):
            results[key] = mmcv.impad(
                results[key], shape=results['pad_shape'][:2],
                pad_val=self.pad_val.get('seg', 255),
                padding_mode=self.padding_mode)


@TRANSFORMS.register_module()
class SegFieldsRandomFlip(RandomFlip):
    """MMCV's ``RandomFlip`` that also flips the other ``seg_fields``.

    They are flipped with the image (no label swapping).
    """

    def _flip(self, results: dict) -> None:
        super()._flip(results)
        for key in _other_seg_fields(results):
            results[key] = mmcv.imflip(
                results[key], direction=results['flip_direction'])


@TRANSFORMS.register_module()
class PackSegInputsWithIgnoreMask(PackBDLSegInputs):
    """``PackBDLSegInputs`` that also packs ``gt_ignore_mask``.

    ``results['gt_ignore_mask']`` (from :class:`BorderIgnoreMask`) becomes
    ``data_sample.ignore_mask``, a ``PixelData`` holding a uint8 1xHxW
    tensor of the packed image's size (255 = the pseudo-label weight is
    0 there). Without the key it packs like ``PackBDLSegInputs``.

    Args:
        meta_keys (Sequence[str]): As in ``PackSegInputs``.
    """

    def transform(self, results: dict) -> dict:
        """Pack the inputs, the labels and the ignore mask.

        Args:
            results (dict): Result dict of the pipeline.

        Returns:
            dict: ``inputs`` and ``data_samples``.
        """
        packed = super().transform(results)
        mask = results.get(IGNORE_MASK)
        if mask is None:
            return packed
        shape = tuple(results['img'].shape[:2])
        if tuple(mask.shape) != shape:
            raise ConfigCheckError(
                f'{results.get("img_path")}: gt_ignore_mask has shape '
                f'{tuple(mask.shape)} but the image {shape}; move it with '
                'SegFieldsRandomResize / RandomCrop / SegFieldsPad / '
                'SegFieldsRandomFlip instead of the MMCV transforms')
        data = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.uint8))
        packed['data_samples'].ignore_mask = PixelData(data=data[None])
        return packed
