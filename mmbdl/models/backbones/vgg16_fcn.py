"""VGG-16 trunk of the Caffe FCN-8s (as used by BDL's VGG model)."""
from typing import List, Sequence

import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmbdl.registry import MODELS
from mmbdl.utils.errors import ConfigCheckError
from mmbdl.utils.typing_utils import OptMultiConfig

# (number of 3x3 convs, output channels) of the five VGG-16 blocks
_VGG16_BLOCKS = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))


@MODELS.register_module()
class VGG16FCN(BaseModule):
    """VGG-16 trunk of the Caffe FCN-8s, fully convolutional.

    Five blocks of 3x3 convolutions (``conv{b}_{i}``, ReLU) each ending in a
    2x2 stride-2 max-pool with ``ceil_mode=True``; the first convolution pads
    by 100 so that the 7x7 ``fc6`` (a convolution, no padding) and any input
    size give a valid map; then ``fc7`` (1x1) with ReLU and 2D dropout after
    both. No BatchNorm. Parameter names equal those of the Caffe FCN-8s (and
    of BDL's checkpoints).

    Outputs (a list, consumed by :class:`FCN8sHead`): the input image itself
    (the head crops its final map to the input size), pool3 (256 channels,
    1/8), pool4 (512, 1/16) and the fc7 map (4096, 1/32).

    Args:
        in_channels (int): Input channels. Defaults to 3.
        first_padding (int): Padding of ``conv1_1``. Defaults to 100.
        fc_channels (int): Channels of fc6 / fc7. Defaults to 4096.
        dropout_ratio (float): ``Dropout2d`` probability after fc6 and fc7.
            Defaults to 0.5.
        stage_channels (Sequence[int]): Output channels of the five blocks.
            Defaults to (64, 128, 256, 512, 512); smaller values give a test
            sized model.
        init_cfg (dict | list[dict], optional): Initialisation config.
            Defaults to Kaiming for every convolution. (The release zeroes
            every convolution and then always loads converted ImageNet
            weights; zeros would make an unloaded model untrainable.)
    """

    def __init__(self,
                 in_channels: int = 3,
                 first_padding: int = 100,
                 fc_channels: int = 4096,
                 dropout_ratio: float = 0.5,
                 stage_channels: Sequence[int] = (64, 128, 256, 512, 512),
                 init_cfg: OptMultiConfig = dict(
                     type='Kaiming', layer='Conv2d')) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(stage_channels) != 5:
            raise ConfigCheckError('VGG16FCN needs 5 stage_channels, got '
                                   f'{stage_channels}')
        channels = in_channels
        self.block_names: List[List[str]] = []
        for b, ((num_convs, _), out) in enumerate(
                zip(_VGG16_BLOCKS, stage_channels), start=1):
            names = []
            for i in range(1, num_convs + 1):
                pad = first_padding if (b, i) == (1, 1) else 1
                name = f'conv{b}_{i}'
                self.add_module(name,
                                nn.Conv2d(channels, out, 3, padding=pad))
                names.append(name)
                channels = out
            self.block_names.append(names)
        self.pool = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.relu = nn.ReLU(inplace=True)
        self.fc6 = nn.Conv2d(channels, fc_channels, 7)
        self.fc7 = nn.Conv2d(fc_channels, fc_channels, 1)
        self.drop = nn.Dropout2d(dropout_ratio)
        self.out_channels = (in_channels, stage_channels[2],
                             stage_channels[3], fc_channels)

    def forward(self, x: Tensor) -> List[Tensor]:
        """Run the trunk.

        Args:
            x (Tensor): Images, (N, C, H, W).

        Returns:
            list[Tensor]: ``[x, pool3, pool4, fc7]``.
        """
        outs = [x]
        h = x
        for b, names in enumerate(self.block_names, start=1):
            for name in names:
                h = self.relu(getattr(self, name)(h))
            h = self.pool(h)
            if b in (3, 4):
                outs.append(h)
        h = self.drop(self.relu(self.fc6(h)))
        h = self.drop(self.relu(self.fc7(h)))
        outs.append(h)
        return outs
