"""FCN-8s head (Caffe version) with its scaled pool3 / pool4 skips."""
from typing import List, Sequence

import numpy as np
import torch
import torch.nn as nn
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from torch import Tensor

from mmbdl.registry import MODELS
from mmbdl.utils.errors import ConfigCheckError
from mmbdl.utils.typing_utils import OptMultiConfig


def bilinear_kernel(channels: int, kernel_size: int) -> Tensor:
    """Weights of a transposed conv that upsamples each channel bilinearly.

    Args:
        channels (int): Input = output channels (channel c maps to c only).
        kernel_size (int): Kernel side.

    Returns:
        Tensor: (channels, channels, k, k) float32.
    """
    factor = (kernel_size + 1) // 2
    centre = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    ramp = 1 - np.abs(np.arange(kernel_size) - centre) / factor
    weight = torch.zeros(channels, channels, kernel_size, kernel_size)
    kernel = torch.from_numpy(np.outer(ramp, ramp)).float()
    for c in range(channels):
        weight[c, c] = kernel
    return weight


@MODELS.register_module()
class FCN8sHead(BaseDecodeHead):
    """Caffe FCN-8s head on :class:`VGG16FCN` outputs.

    ``score_fr`` (1x1 on fc7) is upsampled 2x (``upscore2``), added to
    ``score_pool4`` of ``0.01 * pool4`` cropped at offset 5, upsampled 2x
    (``upscore_pool4``), added to ``score_pool3`` of ``1e-4 * pool3`` cropped
    at offset 9, upsampled 8x (``upscore8``) and cropped at offset 31 to the
    input size. The transposed convolutions (no bias) start as bilinear
    upsampling and are frozen by default, as in the release (which leaves
    them out of the optimizer). Logits come out at the input resolution.

    Inputs (``in_index=(0, 1, 2, 3)``, ``input_transform='multiple_select'``):
    the image (only its size is used), pool3, pool4, fc7.

    Args:
        in_channels (Sequence[int]): Channels of the four inputs.
            Defaults to (3, 256, 512, 4096).
        num_classes (int): Number of classes. Defaults to 19.
        pool_scales (Sequence[float]): Factors on (pool4, pool3) before their
            score layers. Defaults to (0.01, 0.0001).
        crop_offsets (Sequence[int]): Crop offsets of (pool4 score, pool3
            score, final map). Defaults to (5, 9, 31) (for ``conv1_1``
            padding 100).
        freeze_upsampling (bool): Keep the bilinear transposed convs fixed.
            Defaults to True.
        init_cfg (dict | list[dict], optional): Initialisation of the score
            convs; zeros like the release by default.
        **kwargs: Other :class:`BaseDecodeHead` arguments.
    """

    def __init__(self,
                 in_channels: Sequence[int] = (3, 256, 512, 4096),
                 num_classes: int = 19,
                 pool_scales: Sequence[float] = (0.01, 0.0001),
                 crop_offsets: Sequence[int] = (5, 9, 31),
                 freeze_upsampling: bool = True,
                 init_cfg: OptMultiConfig = dict(
                     type='Constant', val=0, bias=0, layer='Conv2d'),
                 **kwargs) -> None:
        kwargs.setdefault('channels', num_classes)
        kwargs.setdefault('dropout_ratio', 0.0)
        kwargs.setdefault('in_index', (0, 1, 2, 3))
        kwargs.setdefault('input_transform', 'multiple_select')
        super().__init__(
            in_channels=list(in_channels),
            num_classes=num_classes,
            init_cfg=init_cfg,
            **kwargs)
        if len(self.in_channels) != 4:
            raise ConfigCheckError(
                'FCN8sHead takes (image, pool3, pool4, fc7); got '
                f'in_channels={self.in_channels}')
        del self.conv_seg
        n = self.out_channels
        _, c3, c4, c7 = self.in_channels
        self.pool_scales = tuple(pool_scales)
        self.crop_offsets = tuple(crop_offsets)
        self.freeze_upsampling = freeze_upsampling
        self.score_fr = nn.Conv2d(c7, n, 1)
        self.score_pool3 = nn.Conv2d(c3, n, 1)
        self.score_pool4 = nn.Conv2d(c4, n, 1)
        self.upscore2 = nn.ConvTranspose2d(n, n, 4, stride=2, bias=False)
        self.upscore_pool4 = nn.ConvTranspose2d(n, n, 4, stride=2, bias=False)
        self.upscore8 = nn.ConvTranspose2d(n, n, 16, stride=8, bias=False)
        self._reset_upsampling()

    def _reset_upsampling(self) -> None:
        for m in (self.upscore2, self.upscore_pool4, self.upscore8):
            with torch.no_grad():
                m.weight.copy_(
                    bilinear_kernel(m.in_channels, m.kernel_size[0]))
            m.weight.requires_grad_(not self.freeze_upsampling)

    def init_weights(self) -> None:
        """Score convs from ``init_cfg``; transposed convs bilinear."""
        super().init_weights()
        self._reset_upsampling()

    @staticmethod
    def _crop(x: Tensor, offset: int, size) -> Tensor:
        h, w = size
        if x.shape[2] < offset + h or x.shape[3] < offset + w:
            raise ConfigCheckError(
                f'FCN8sHead: cannot crop {h}x{w} at offset {offset} from a '
                f'{x.shape[2]}x{x.shape[3]} map; the backbone must pad '
                'conv1_1 by 100 as the Caffe FCN-8s does')
        return x[:, :, offset:offset + h, offset:offset + w]

    def forward(self, inputs: List[Tensor]) -> Tensor:
        """Fuse the three score maps.

        Args:
            inputs (list[Tensor]): Backbone outputs ``[img, pool3, pool4,
                fc7]``.

        Returns:
            Tensor: Logits at the input resolution, (N, classes, H, W).
        """
        img, pool3, pool4, fc7 = self._transform_inputs(inputs)
        scale4, scale3 = self.pool_scales
        off4, off3, off8 = self.crop_offsets
        h = self.upscore2(self.score_fr(fc7))
        h = h + self._crop(self.score_pool4(pool4 * scale4), off4,
                           h.shape[2:])
        h = self.upscore_pool4(h)
        h = h + self._crop(self.score_pool3(pool3 * scale3), off3,
                           h.shape[2:])
        h = self.upscore8(h)
        return self._crop(h, off8, img.shape[2:]).contiguous()
