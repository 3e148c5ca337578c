"""The image operations of the demo's target style, in plain numpy.

Demo data version 2 renders the target style with OpenCV's
``cvtColor`` (RGB <-> HSV), ``resize`` (bicubic) and ``GaussianBlur``.
Those differ in the last bits of a float between OpenCV 4 and 5 (measured:
``resize`` and ``GaussianBlur`` on float32 images), which moves a grey level
of a few pixels, so the pinned and the current stack drew different files.
Version 3 uses the functions below instead: they follow OpenCV's
definitions (hue in degrees, a bicubic kernel with ``A = -0.75`` on pixel
centres with replicated borders, a Gaussian of ``2 * round(4 * sigma) + 1``
taps with reflected borders), so the images look the same, but they are
built from element-wise float32 operations in a fixed order (no sums of
unspecified order, no BLAS, no vectorised transcendental functions on the
image), which round alike on every numpy and on every machine.
"""
import math

import numpy as np


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] to HSV (hue in degrees [0, 360), S and V in [0, 1]).

    Args:
        rgb (np.ndarray): HxWx3 float32 RGB.

    Returns:
        np.ndarray: HxWx3 float32 HSV.
    """
    rgb = rgb.astype(np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = np.maximum(np.maximum(r, g), b)
    diff = v - np.minimum(np.minimum(r, g), b)
    safe_v = np.where(v > 0, v, np.float32(1))
    s = np.where(v > 0, diff / safe_v, np.float32(0))
    safe_d = np.where(diff > 0, diff, np.float32(1))
    sixty = np.float32(60)
    h = np.where(v == r, sixty * (g - b) / safe_d,
                 np.where(v == g,
                          np.float32(120) + sixty * (b - r) / safe_d,
                          np.float32(240) + sixty * (r - g) / safe_d))
    h = np.where(diff > 0, h, np.float32(0))
    h = np.where(h < 0, h + np.float32(360), h)
    return np.stack([h, s, v], axis=-1).astype(np.float32)


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """HSV of :func:`rgb_to_hsv` (any hue in [0, 360)) back to RGB.

    Args:
        hsv (np.ndarray): HxWx3 float32 HSV.

    Returns:
        np.ndarray: HxWx3 float32 RGB.
    """
    hsv = hsv.astype(np.float32)
    h, s, v = hsv[..., 0] / np.float32(60), hsv[..., 1], hsv[..., 2]
    sector = np.floor(h)
    f = h - sector
    sector = sector.astype(np.int64) % 6
    one = np.float32(1)
    p = v * (one - s)
    q = v * (one - s * f)
    t = v * (one - s * (one - f))
    # (r, g, b) per sector: (v t p) (q v p) (p v t) (p q v) (t p v) (v p q)
    table = ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v),
             (v, p, q))
    out = np.empty(hsv.shape, dtype=np.float32)
    for c in range(3):
        out[..., c] = np.select([sector == k for k in range(6)],
                                [table[k][c] for k in range(6)])
    return out


def _cubic_taps(src_size: int, dst_size: int):
    """Source indices (dst x 4) and float32 weights of bicubic resizing."""
    scale = src_size / dst_size
    pos = (np.arange(dst_size, dtype=np.float64) + 0.5) * scale - 0.5
    start = np.floor(pos)
    x = pos - start
    a = -0.75
    w0 = ((a * (x + 1) - 5 * a) * (x + 1) + 8 * a) * (x + 1) - 4 * a
    w1 = ((a + 2) * x - (a + 3)) * x * x + 1
    w2 = ((a + 2) * (1 - x) - (a + 3)) * (1 - x) * (1 - x) + 1
    w3 = 1 - w0 - w1 - w2
    weights = np.stack([w0, w1, w2, w3], axis=1).astype(np.float32)
    index = start.astype(np.int64)[:, None] + np.arange(-1, 3)[None, :]
    return np.clip(index, 0, src_size - 1), weights


def resize_cubic(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bicubic resizing of a 2-d float32 array to ``height x width``.

    Args:
        img (np.ndarray): hxw float32.
        width (int): Output width.
        height (int): Output height.

    Returns:
        np.ndarray: ``height x width`` float32.
    """
    img = img.astype(np.float32)
    iy, wy = _cubic_taps(img.shape[0], height)
    ix, wx = _cubic_taps(img.shape[1], width)
    rows = wy[:, 0, None] * img[iy[:, 0]]
    for k in range(1, 4):
        rows = rows + wy[:, k, None] * img[iy[:, k]]
    out = wx[None, :, 0] * rows[:, ix[:, 0]]
    for k in range(1, 4):
        out = out + wx[None, :, k] * rows[:, ix[:, k]]
    return out


def gaussian_kernel(sigma: float) -> np.ndarray:
    """Normalised float32 Gaussian of ``2 * round(4 * sigma) + 1`` taps.

    The weights are computed in Python floats and rounded to float32, so a
    last-bit difference of ``exp`` between C libraries cannot reach them.

    Args:
        sigma (float): Standard deviation in pixels.

    Returns:
        np.ndarray: 1-d float32 kernel.
    """
    radius = int(round(4 * sigma))
    raw = [math.exp(-(i * i) / (2.0 * sigma * sigma))
           for i in range(-radius, radius + 1)]
    total = 0.0
    for w in raw:
        total += w
    return np.array([w / total for w in raw], dtype=np.float32)


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of an HxW(xC) float32 image.

    Borders are reflected without repeating the edge pixel (OpenCV's
    default ``BORDER_REFLECT_101``).

    Args:
        img (np.ndarray): HxW or HxWxC float32.
        sigma (float): Standard deviation in pixels.

    Returns:
        np.ndarray: The blurred image, float32, same shape.
    """
    kernel = gaussian_kernel(sigma)
    r = len(kernel) // 2
    img = img.astype(np.float32)
    for axis in (0, 1):
        pad = [(0, 0)] * img.ndim
        pad[axis] = (r, r)
        padded = np.pad(img, pad, mode='reflect')
        size = img.shape[axis]
        out = kernel[0] * np.take(padded, np.arange(0, size), axis=axis)
        for k in range(1, len(kernel)):
            out = out + kernel[k] * np.take(
                padded, np.arange(k, k + size), axis=axis)
        img = out
    return img
