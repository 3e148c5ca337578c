"""Sustained convolution throughput of the device the rehearsal runs on."""
import time

import torch
import torch.nn.functional as F


def conv_throughput(device: str = 'cpu', seconds: float = 1.5,
                    channels: int = 256, size=(90, 160),
                    dilation: int = 2) -> float:
    """FLOP/s of a 3x3 dilated convolution like DeepLabV2's layer3.

    The shape is a ResNet-101 layer3 bottleneck conv of a 1280x720 input at
    output stride 8, forward and backward (input and weight gradients), the
    operation that dominates the segmentation step.

    Args:
        device (str): 'cpu' or 'cuda'. Defaults to 'cpu'.
        seconds (float): Measuring time after one warm-up. Defaults to 1.5.
        channels (int): In/out channels. Defaults to 256.
        size (tuple): ``(h, w)``. Defaults to (90, 160).
        dilation (int): Dilation. Defaults to 2.

    Returns:
        float: FLOP/s (2 per multiply-add; backward counted as 2 convs).
    """
    x = torch.randn(1, channels, *size, device=device, requires_grad=True)
    w = torch.randn(channels, channels, 3, 3, device=device,
                    requires_grad=True)
    flops = 3 * 2 * channels * channels * 9 * size[0] * size[1]

    def step():
        y = F.conv2d(x, w, padding=dilation, dilation=dilation)
        y.sum().backward()

    step()
    if device != 'cpu':
        torch.cuda.synchronize()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or count < 2:
        step()
        count += 1
    if device != 'cpu':
        torch.cuda.synchronize()
    return flops * count / (time.perf_counter() - start)
