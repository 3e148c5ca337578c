"""DeepLab-v2 classifier: a sum of dilated 3x3 convolutions (ASPP-L)."""
from typing import List, Sequence

import torch.nn as nn
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from torch import Tensor

from mmbdl.registry import MODELS
from mmbdl.utils.errors import ConfigCheckError
from mmbdl.utils.typing_utils import OptMultiConfig


@MODELS.register_module()
class DeepLabV2Head(BaseDecodeHead):
    """Classifier of DeepLab-v2: the sum of parallel dilated 3x3 convs.

    Each branch maps the last backbone stage straight to class logits
    (3x3 conv with bias, padding = dilation); the logits are the sum of the
    branches. There is no intermediate layer, so ``channels`` is unused and
    MMSegmentation's ``conv_seg`` is removed (the parameter count equals the
    release's: 4 x (2048 x 9 x 19 + 19) = 1,400,908 for 19 classes).

    Older BDL code (its ``cyclegan/`` copy of DeepLab, used for the
    perceptual loss) returned from inside the summation loop, so only the
    first two branches ever contributed although four exist.
    ``num_effective_branches=2`` reproduces those checkpoints' outputs; the
    unused branches keep their parameters (so the checkpoints load) but get
    no gradient (use ``find_unused_parameters=True`` with DDP).

    Args:
        in_channels (int): Channels of the backbone output. Defaults to 2048.
        num_classes (int): Number of classes. Defaults to 19.
        dilations (Sequence[int]): Dilation (= padding) of each branch.
            Defaults to (6, 12, 18, 24).
        num_effective_branches (int, optional): How many branches (the
            first ones) are summed; None sums all. Defaults to None.
        init_cfg (dict | list[dict], optional): Initialisation; defaults to
            N(0, 0.01) weights and zero biases like the release.
        **kwargs: Other :class:`BaseDecodeHead` arguments (``in_index``,
            ``align_corners``, ``loss_decode``, ...).
    """

    def __init__(self,
                 in_channels: int = 2048,
                 num_classes: int = 19,
                 dilations: Sequence[int] = (6, 12, 18, 24),
                 num_effective_branches: int = None,
                 init_cfg: OptMultiConfig = dict(
                     type='Normal', std=0.01, bias=0, layer='Conv2d'),
                 **kwargs) -> None:
        kwargs.setdefault('channels', in_channels)
        kwargs.setdefault('dropout_ratio', 0.0)
        super().__init__(
            in_channels=in_channels,
            num_classes=num_classes,
            init_cfg=init_cfg,
            **kwargs)
        if not dilations:
            raise ConfigCheckError('DeepLabV2Head needs at least one dilation')
        if num_effective_branches is None:
            num_effective_branches = len(dilations)
        if not 1 <= num_effective_branches <= len(dilations):
            raise ConfigCheckError(
                f'num_effective_branches={num_effective_branches} must be in '
                f'[1, {len(dilations)}] (one per dilation {tuple(dilations)})')
        self.dilations = tuple(dilations)
        self.num_effective_branches = num_effective_branches
        del self.conv_seg  # logits come straight from the branches
        self.classifiers = nn.ModuleList(
            nn.Conv2d(self.in_channels, self.out_channels, 3, padding=d,
                      dilation=d, bias=True) for d in self.dilations)

    def forward(self, inputs: List[Tensor]) -> Tensor:
        """Sum the effective branches on the selected backbone output.

        Args:
            inputs (list[Tensor]): Backbone outputs.

        Returns:
            Tensor: Logits at the feature resolution, (N, classes, h, w).
        """
        x = self._transform_inputs(inputs)
        if self.dropout is not None:
            x = self.dropout(x)
        out = self.classifiers[0](x)
        for branch in self.classifiers[1:self.num_effective_branches]:
            out = out + branch(x)
        return out
