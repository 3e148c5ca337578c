"""The numpy image operations of demo data v3 against OpenCV's (v2)."""
import cv2
import numpy as np
import pytest

from mmbdl.datasets.demo_image_ops import (gaussian_blur, gaussian_kernel,
                                           hsv_to_rgb, resize_cubic,
                                           rgb_to_hsv)


@pytest.fixture
def rgb():
    rng = np.random.default_rng(1)
    img = rng.uniform(0, 1, (32, 64, 3)).astype(np.float32)
    img[0, :4] = [[0, 0, 0], [1, 1, 1], [0.5, 0.5, 0.5], [1, 0, 0]]
    return img


def test_hsv_round_trip_matches_opencv(rgb):
    hsv = rgb_to_hsv(rgb)
    ref = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    assert hsv.dtype == np.float32 and hsv.shape == rgb.shape
    # hue in degrees, saturation and value in [0, 1], as OpenCV's float HSV
    assert np.abs(hsv[..., 0] - ref[..., 0]).max() < 1e-3
    assert np.abs(hsv[..., 1:] - ref[..., 1:]).max() < 1e-5
    assert hsv[0, 0].tolist() == [0, 0, 0] and hsv[0, 3].tolist() == [0, 1, 1]
    rotated = ref.copy()
    rotated[..., 0] = (rotated[..., 0] + 110.0) % 360.0
    rotated[..., 1] *= 0.55
    back = hsv_to_rgb(rotated)
    assert np.abs(back - cv2.cvtColor(rotated, cv2.COLOR_HSV2RGB)).max() < \
        1e-5
    assert np.abs(hsv_to_rgb(hsv) - rgb).max() < 1e-5


def test_resize_cubic_matches_opencv():
    small = np.random.default_rng(2).standard_normal((18, 34)).astype(
        np.float32)
    out = resize_cubic(small, 64, 32)
    ref = cv2.resize(small, (64, 32), interpolation=cv2.INTER_CUBIC)
    assert out.dtype == np.float32 and out.shape == (32, 64)
    assert np.abs(out - ref).max() < 1e-5


def test_gaussian_blur_matches_opencv(rgb):
    kernel = gaussian_kernel(0.9)
    # OpenCV's size for a float image: 2 * round(4 * sigma) + 1 = 9 taps
    assert kernel.shape == (9, ) and abs(float(kernel.sum()) - 1) < 1e-6
    assert kernel[4] == kernel.max() and kernel[0] == kernel[8]
    out = gaussian_blur(rgb, 0.9)
    ref = cv2.GaussianBlur(rgb, (0, 0), sigmaX=0.9)
    assert out.dtype == np.float32 and out.shape == rgb.shape
    assert np.abs(out - ref).max() < 1e-5
    plane = gaussian_blur(rgb[..., 0], 0.9)
    assert np.abs(plane - out[..., 0]).max() == 0
