"""ResNet of DeepLab-v2 as released with BDL (Caffe style, output stride 8)."""
from typing import Sequence

import torch.nn as nn
from mmseg.models.backbones import ResNet

from mmbdl.registry import MODELS
from mmbdl.utils.errors import ConfigCheckError
from mmbdl.utils.typing_utils import ConfigType


@MODELS.register_module()
class DeepLabV2ResNet(ResNet):
    """MMSegmentation's ResNet set up like the DeepLab-v2 ResNet of BDL.

    The release's backbone is a plain ResNet (7x7 stride-2 stem, no deep
    stem) with Caffe bottlenecks (the stride sits in the first 1x1 conv),
    layer3 dilated by 2 and layer4 by 4 in every block (output stride 8),
    BatchNorm affine parameters frozen while the layers stay in train mode,
    and a stem max-pool with ``ceil_mode=True``. The last point is the only
    one MMSegmentation's ``ResNet`` cannot express: with it a 512x256 (w x h)
    input gives 65x33 features instead of 64x32. The state-dict keys equal
    the release's (``conv1``, ``bn1``, ``layerN.M.{conv1..3, bn1..3,
    downsample.0, downsample.1}``).

    Args:
        depth (int): ResNet depth. Defaults to 101.
        stem_ceil_mode (bool): ``ceil_mode`` of the stem max-pool. Defaults
            to True (the release).
        style (str): 'caffe' (stride in the 1x1 conv) or 'pytorch'.
            Defaults to 'caffe'.
        strides (Sequence[int]): Stride of the first block of every stage.
            Defaults to (1, 2, 1, 1).
        dilations (Sequence[int]): Dilation of every stage.
            Defaults to (1, 1, 2, 4).
        out_indices (Sequence[int]): Stages whose outputs are returned.
            Defaults to (3, ).
        norm_cfg (dict): Norm layer config. Defaults to
            ``dict(type='BN', requires_grad=False)`` (frozen affine).
        norm_eval (bool): Whether BatchNorm layers are put in eval mode during
            training. Defaults to False (the release keeps them in train
            mode, so running statistics keep being updated).
        zero_init_residual (bool): Zero-initialise the last BN of every
            block. Defaults to False (the release initialises BN weights 1).
        **kwargs: Other arguments of :class:`mmseg.models.backbones.ResNet`.
    """

    def __init__(self,
                 depth: int = 101,
                 stem_ceil_mode: bool = True,
                 style: str = 'caffe',
                 strides: Sequence[int] = (1, 2, 1, 1),
                 dilations: Sequence[int] = (1, 1, 2, 4),
                 out_indices: Sequence[int] = (3, ),
                 norm_cfg: ConfigType = dict(type='BN', requires_grad=False),
                 norm_eval: bool = False,
                 zero_init_residual: bool = False,
                 **kwargs) -> None:
        if kwargs.get('deep_stem', False):
            raise ConfigCheckError(
                'DeepLabV2ResNet reproduces the 7x7 stem of the release; '
                'use mmseg ResNetV1c for a deep stem')
        super().__init__(
            depth=depth,
            style=style,
            strides=strides,
            dilations=dilations,
            out_indices=out_indices,
            norm_cfg=norm_cfg,
            norm_eval=norm_eval,
            zero_init_residual=zero_init_residual,
            **kwargs)
        self.stem_ceil_mode = stem_ceil_mode
        self.maxpool = nn.MaxPool2d(
            kernel_size=3, stride=2, padding=1, ceil_mode=stem_ceil_mode)
