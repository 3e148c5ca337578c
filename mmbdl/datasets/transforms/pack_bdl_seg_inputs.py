"""``PackSegInputs`` that also packs the soft pseudo-label weight."""
import numpy as np
import torch
from mmengine.structures import PixelData
from mmseg.datasets.transforms import PackSegInputs

from mmbdl.registry import TRANSFORMS
from mmbdl.utils.errors import ConfigCheckError


@TRANSFORMS.register_module()
class PackBDLSegInputs(PackSegInputs):
    """Pack like ``PackSegInputs`` plus ``gt_seg_weight``.

    ``results['gt_seg_weight']`` (float HxW in [0, 1], from
    :class:`LoadPseudoLabel`) becomes ``data_sample.gt_seg_weight``, a
    ``PixelData`` holding a float32 1xHxW tensor. It must have the size of
    ``gt_seg_map``: geometric transforms of MMCV/MMSegmentation move only
    ``gt_seg_map``, so random crop/flip pipelines cannot carry soft weights.

    Args:
        meta_keys (Sequence[str]): As in ``PackSegInputs``.
    """

    def transform(self, results: dict) -> dict:
        """Pack the inputs, the label and the weight.

        Args:
            results (dict): Result dict of the pipeline.

        Returns:
            dict: ``inputs`` and ``data_samples``.
        """
        packed = super().transform(results)
        weight = results.get('gt_seg_weight')
        if weight is None:
            return packed
        label = results.get('gt_seg_map')
        if label is None or tuple(weight.shape) != tuple(label.shape[:2]):
            raise ConfigCheckError(
                f'{results.get("img_path")}: gt_seg_weight has shape '
                f'{tuple(weight.shape)} but gt_seg_map '
                f'{None if label is None else tuple(label.shape)}; soft '
                'weights need LoadPseudoLabel after the geometric transforms '
                '(the fixed-resize pipelines of configs/_base_/datasets)')
        data = torch.from_numpy(
            np.ascontiguousarray(weight, dtype=np.float32))[None]
        packed['data_samples'].gt_seg_weight = PixelData(data=data)
        return packed
