"""One ``SegDataPreProcessor`` per data branch (source / target)."""
import copy
from typing import Any, Dict

import torch.nn.functional as F
from mmengine.model import BaseDataPreprocessor
from mmengine.structures import PixelData

from mmbdl.registry import MODELS
from mmbdl.utils import ConfigType
from mmbdl.utils.errors import ConfigCheckError

BRANCHES = ('source', 'target')


@MODELS.register_module()
class UDADataPreProcessor(BaseDataPreprocessor):
    """Run the source and the target preprocessor on their branches.

    A branch batch (from :class:`UDADataset` after ``pseudo_collate``)::

        {'inputs': {'source': [Tensor], 'target': [Tensor]},
         'data_samples': {'source': [SegDataSample], 'target': [...]}}

    becomes ``{'inputs': {'source': Tensor[B,3,H,W], 'target': ...},
    'data_samples': {...}}``, each branch handled by its own
    ``SegDataPreProcessor`` (as MMDetection's ``MultiBranchDataPreprocessor``
    does). A soft pseudo-label weight ``gt_seg_weight`` is padded like
    ``gt_sem_seg`` (with 0). Any other batch (validation, testing,
    pseudo-labelling) goes through the ``target`` preprocessor unchanged.

    A ``SegDataPreProcessor`` config with neither ``size`` nor
    ``size_divisor`` gets ``size_divisor=1`` (pad a training batch to its
    largest image), since MMSegmentation's batch stacking needs one of them
    in training.

    Args:
        source (dict): Config of the source branch's preprocessor.
        target (dict): Config of the target branch's preprocessor.
    """

    def __init__(self, source: ConfigType, target: ConfigType) -> None:
        super().__init__()
        self.source = MODELS.build(self._with_padding(source))
        self.target = MODELS.build(self._with_padding(target))

    @staticmethod
    def _with_padding(cfg: ConfigType) -> ConfigType:
        cfg = copy.deepcopy(cfg)
        if isinstance(cfg, dict) and str(cfg.get('type', '')).endswith(
                'SegDataPreProcessor') and cfg.get('size') is None and \
                cfg.get('size_divisor') is None:
            cfg['size_divisor'] = 1
        return cfg

    @staticmethod
    def is_branch_batch(data: dict) -> bool:
        """Whether ``data`` is in the source/target branch format."""
        inputs = data.get('inputs') if isinstance(data, dict) else None
        return isinstance(inputs, dict) and bool(inputs) and set(
            inputs) <= set(BRANCHES)

    def forward(self, data: dict, training: bool = False) -> Dict[str, Any]:
        """Preprocess a branch batch per branch, anything else as target.

        Args:
            data (dict): Batch from the dataloader.
            training (bool): Training mode (padding and stacking as in
                ``SegDataPreProcessor``). Defaults to False.

        Returns:
            dict: ``inputs`` and ``data_samples``, per branch for branch
            batches.
        """
        if not self.is_branch_batch(data):
            return self.target(data, training)
        samples = data.get('data_samples') or {}
        out_inputs, out_samples = {}, {}
        for branch, inputs in data['inputs'].items():
            branch_samples = samples.get(branch)
            result = getattr(self, branch)(
                dict(inputs=inputs, data_samples=branch_samples), training)
            if result['data_samples'] is not None:
                self._pad_weights(result['data_samples'])
            out_inputs[branch] = result['inputs']
            out_samples[branch] = result['data_samples']
        return dict(inputs=out_inputs, data_samples=out_samples)

    @staticmethod
    def _pad_weights(data_samples) -> None:
        for sample in data_samples:
            if 'gt_seg_weight' not in sample:
                continue
            weight = sample.gt_seg_weight.data
            target = sample.gt_sem_seg.shape if 'gt_sem_seg' in sample \
                else None
            if target is None or tuple(weight.shape[-2:]) == tuple(target):
                continue
            pad = sample.metainfo.get('padding_size', [0, 0, 0, 0])
            padded = F.pad(weight, tuple(int(p) for p in pad), value=0.)
            if tuple(padded.shape[-2:]) != tuple(target):
                raise ConfigCheckError(
                    f'{sample.metainfo.get("img_path")}: gt_seg_weight '
                    f'{tuple(weight.shape)} does not match gt_sem_seg '
                    f'{tuple(target)} after padding')
            del sample.gt_seg_weight
            sample.gt_seg_weight = PixelData(data=padded)
