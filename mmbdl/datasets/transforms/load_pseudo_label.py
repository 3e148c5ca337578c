"""Load a pseudo-label (and its soft weight) of a target image."""
import os.path as osp
from typing import Optional

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from mmbdl.registry import TRANSFORMS
from mmbdl.utils.errors import ConfigCheckError


def read_uint8_png(path: str) -> np.ndarray:
    """Read a single-channel uint8 PNG, naming the file on failure."""
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise OSError(f'cannot read {path} (missing or corrupt PNG); '
                      'rewrite the pseudo-labels (tools/pseudo_label.py)')
    if img.ndim != 2 or img.dtype != np.uint8:
        raise ConfigCheckError(
            f'{path}: expected a single-channel uint8 PNG, got '
            f'shape {img.shape} dtype {img.dtype}')
    return img


@TRANSFORMS.register_module()
class LoadPseudoLabel(BaseTransform):
    """Load ``results['pseudo_label_path']`` as ``gt_seg_map``.

    :class:`UDADataset` adds ``pseudo_label_path`` (and, when a soft weight
    exists, ``pseudo_weight_path``) to target samples of a self-training
    round; without them this transform does nothing, so one pipeline serves
    rounds with and without pseudo-labels. The label is uint8 with 255 =
    ignore; the weight (``round(255 * w)``) becomes ``gt_seg_weight``
    (float32 in [0, 1]). A map whose size differs from the current image is
    resized to it (nearest for the label, bilinear for the weight), so the
    transform may follow a fixed ``Resize``.

    Required Keys: ``img`` (optional), ``pseudo_label_path`` (optional),
    ``pseudo_weight_path`` (optional).
    Added Keys: ``gt_seg_map``, ``gt_seg_weight``, ``seg_fields``.

    Args:
        num_classes (int, optional): Reject labels with ids
            ``>= num_classes`` other than 255. Defaults to None (no check).
    """

    def __init__(self, num_classes: Optional[int] = None) -> None:
        self.num_classes = num_classes

    def transform(self, results: dict) -> dict:
        """Load the pseudo-label and the weight if their paths are set.

        Args:
            results (dict): Result dict of the pipeline.

        Returns:
            dict: The updated results.
        """
        path = results.get('pseudo_label_path')
        if path is None:
            return results
        label = read_uint8_png(path)
        shape = results['img'].shape[:2] if 'img' in results else None
        if shape is not None and label.shape != shape:
            label = cv2.resize(label, (shape[1], shape[0]),
                               interpolation=cv2.INTER_NEAREST)
        if self.num_classes is not None:
            bad = np.unique(label[(label >= self.num_classes)
                                  & (label != 255)])
            if bad.size:
                raise ConfigCheckError(
                    f'{path}: pseudo-label ids {bad.tolist()} are outside '
                    f'0..{self.num_classes - 1} and 255; the labels were '
                    'made for another class count')
        results['gt_seg_map'] = label
        results.setdefault('seg_fields', [])
        if 'gt_seg_map' not in results['seg_fields']:
            results['seg_fields'].append('gt_seg_map')
        weight_path = results.get('pseudo_weight_path')
        if weight_path is not None and osp.exists(weight_path):
            weight = read_uint8_png(weight_path).astype(np.float32) / 255.
            if weight.shape != label.shape:
                weight = cv2.resize(weight, (label.shape[1], label.shape[0]),
                                    interpolation=cv2.INTER_LINEAR)
            results['gt_seg_weight'] = weight
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(num_classes={self.num_classes})'
