"""Output-space discriminator of AdaptSegNet / BDL."""
from typing import Sequence

import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmbdl.registry import MODELS
from mmbdl.utils.errors import ConfigCheckError
from mmbdl.utils.typing_utils import OptMultiConfig


@MODELS.register_module()
class FCDiscriminator(BaseModule):
    """Fully convolutional discriminator on class-probability maps.

    Five 4x4 convolutions with stride 2 and padding 1 (channels
    ``base_channels x (1, 2, 4, 8)`` then 1), LeakyReLU(0.2) after all but
    the last; outputs one logit per 32x32 input patch (no sigmoid: the loss
    is BCE with logits). For 19 classes and 64 base channels it has
    2,781,121 parameters, like the release.

    Args:
        num_classes (int): Input channels (the segmentor's classes).
            Defaults to 19.
        base_channels (int): Channels of the first conv. Defaults to 64.
        channel_mults (Sequence[int]): Multipliers of the four hidden convs.
            Defaults to (1, 2, 4, 8).
        negative_slope (float): LeakyReLU slope. Defaults to 0.2.
        init_cfg (dict | list[dict], optional): Initialisation config.
            Defaults to None (PyTorch's default, like the release).
    """

    def __init__(self,
                 num_classes: int = 19,
                 base_channels: int = 64,
                 channel_mults: Sequence[int] = (1, 2, 4, 8),
                 negative_slope: float = 0.2,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_classes = num_classes
        layers, channels = [], num_classes
        for mult in channel_mults:
            out = base_channels * mult
            layers += [
                nn.Conv2d(channels, out, 4, stride=2, padding=1),
                nn.LeakyReLU(negative_slope, inplace=True)
            ]
            channels = out
        layers.append(nn.Conv2d(channels, 1, 4, stride=2, padding=1))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """Patch logits.

        Args:
            x (Tensor): Class probabilities, (N, num_classes, H, W).

        Returns:
            Tensor: (N, 1, H/32, W/32) logits ("target" is 1).
        """
        if x.shape[1] != self.num_classes:
            raise ConfigCheckError(
                f'FCDiscriminator expects {self.num_classes} channels (one '
                f'per class), got {x.shape[1]}; set discriminator.num_classes '
                'to the segmentor\'s num_classes')
        return self.layers(x)
