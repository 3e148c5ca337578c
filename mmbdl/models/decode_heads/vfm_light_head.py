"""VFM-UDA's light decode head on the patch tokens of a DINOv2 ViT.

The head of VFM-UDA (Englert et al., 2024) upsamples the ``(B, D, h, w)``
patch-token map of the last block (after the final norm, class token
dropped) four times with two stride-2 transposed convolutions, refines it
with one 3x3 convolution and classifies every position with a bias-free
1x1 convolution::

    ConvTranspose2d(D, D/2, 2, stride 2, no bias), LayerNorm2d, GELU,
    ConvTranspose2d(D/2, D/4, 2, stride 2, no bias), LayerNorm2d,
    Conv2d(D/4, D/4, 3, padding 1, no bias), LayerNorm2d,
    Conv2d(D/4, num_classes, 1, no bias)      (``conv_seg``, N(0, 0.1))

so the logits come out at 4x the token grid, i.e. ``4 / 14`` of the ViT's
input; MMSegmentation's decode-head ``loss`` and ``predict`` resize them to
the label and the image (bilinear, ``align_corners``).
"""
from typing import List, Optional

import torch.nn as nn
import torch.nn.functional as F
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from torch import Tensor

from mmbdl.registry import MODELS
from mmbdl.utils.errors import ConfigCheckError
from mmbdl.utils.typing_utils import OptMultiConfig


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an ``(N, C, H, W)`` map.

    The parameters are ``weight`` and ``bias`` of shape ``(C,)``, as in
    timm's ``LayerNorm2d`` (whose default eps, 1e-6, is kept).

    Args:
        num_channels (int): ``C``.
        eps (float): Added to the variance. Defaults to 1e-6.
    """

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__(num_channels, eps=eps)

    def forward(self, x: Tensor) -> Tensor:
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape,
                         self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


@MODELS.register_module()
class VFMLightHead(BaseDecodeHead):
    """VFM-UDA's light head: 4x upsampling of the ViT tokens, then a 1x1
    classifier.

    ``upscale`` holds the layers before the classifier (the release's
    ``network.upscale.N`` indices), ``conv_seg`` the classifier (its
    ``network.out``).

    Args:
        in_channels (int): Token width ``D`` of the backbone (768 for
            ViT-B/14, 1024 for ViT-L/14); a multiple of 4.
        num_classes (int): Number of classes.
        channels (int, optional): Width of the classifier's input; fixed to
            ``in_channels // 4`` (another value is refused). Defaults to
            None.
        align_corners (bool): Of the logits' resizing in ``loss`` and
            ``predict``. Defaults to False (the release's).
        in_index (int): Backbone output used. Defaults to 0.
        dropout_ratio (float): Dropout before the classifier. Defaults to 0
            (the release has none).
        init_cfg (dict | list[dict], optional): Defaults to N(0, 0.1) for
            the classifier (the release's); the other layers keep PyTorch's
            default initialisation, as in the release.
        **kwargs: Other :class:`BaseDecodeHead` arguments (``loss_decode``,
            ``ignore_index``, ``sampler``, ...). ``norm_cfg`` and
            ``act_cfg`` are refused: the head's norms and activation are
            fixed.
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 channels: Optional[int] = None,
                 align_corners: bool = False,
                 in_index: int = 0,
                 dropout_ratio: float = 0.,
                 init_cfg: OptMultiConfig = dict(
                     type='Normal', std=0.1, override=dict(name='conv_seg')),
                 **kwargs) -> None:
        if not isinstance(in_channels, int) or in_channels <= 0 or \
                in_channels % 4:
            raise ConfigCheckError(
                f'VFMLightHead: in_channels={in_channels!r} must be the '
                'backbone\'s embed_dims, a positive multiple of 4 (768 for '
                'ViT-B/14, 1024 for ViT-L/14)')
        width = in_channels // 4
        if channels is not None and channels != width:
            raise ConfigCheckError(
                f'VFMLightHead: channels={channels} but the head\'s width is '
                f'in_channels // 4 = {width}; remove channels from the '
                'decode_head config')
        fixed = sorted({'norm_cfg', 'act_cfg'} & set(kwargs))
        if fixed:
            raise ConfigCheckError(
                f'VFMLightHead: {", ".join(fixed)} given, but the head\'s '
                'LayerNorm2d and GELU are fixed (the release\'s); remove '
                f'{" and ".join(fixed)} from the decode_head config')
        super().__init__(
            in_channels=in_channels,
            channels=width,
            num_classes=num_classes,
            dropout_ratio=dropout_ratio,
            in_index=in_index,
            align_corners=align_corners,
            init_cfg=init_cfg,
            **kwargs)
        half = in_channels // 2
        self.upscale = nn.Sequential(
            nn.ConvTranspose2d(in_channels, half, kernel_size=2, stride=2,
                               bias=False),
            LayerNorm2d(half),
            nn.GELU(),
            nn.ConvTranspose2d(half, width, kernel_size=2, stride=2,
                               bias=False),
            LayerNorm2d(width),
            nn.Conv2d(width, width, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(width),
        )
        # the release's classifier: no bias, N(0, 0.1) (also what the
        # default init_cfg applies again in init_weights)
        self.conv_seg = nn.Conv2d(width, self.out_channels, kernel_size=1,
                                  bias=False)
        nn.init.normal_(self.conv_seg.weight, mean=0., std=0.1)

    def forward(self, inputs: List[Tensor]) -> Tensor:
        """Logits at 4x the token grid.

        Args:
            inputs (list[Tensor]): Backbone outputs; ``inputs[in_index]``
                is the ``(B, D, h, w)`` token map.

        Returns:
            Tensor: ``(B, num_classes, 4h, 4w)``.
        """
        x = self._transform_inputs(inputs)
        return self.cls_seg(self.upscale(x))
