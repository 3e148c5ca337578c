"""FDA's amplitude swap against an independent computation of the
release's rule, and the FDA translator's offline mode (no training,
random targets drawn from a folder; the online mode: test_fda_online.py)."""
import math
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from mmbdl.models.translators import (FDATranslator, fda_source_to_target,
                                      missing_contract_members)
from mmbdl.utils.errors import ConfigCheckError, MissingFileError


def reference_fda(src: np.ndarray, trg: np.ndarray, beta: float):
    """The rule with numpy: explicit corner masks, amplitude and phase."""
    h, w = src.shape[-2:]
    b = int(np.floor(min(h, w) * beta))
    mask = np.zeros((h, w), bool)
    for rows in (range(0, b), range(h - b, h)):
        for cols in (range(0, b), range(w - b, w)):
            for r in rows:
                for c in cols:
                    mask[r, c] = True
    spec_src = np.fft.fft2(src.astype(np.float64), axes=(-2, -1))
    spec_trg = np.fft.fft2(trg.astype(np.float64), axes=(-2, -1))
    amp = np.where(mask, np.abs(spec_trg), np.abs(spec_src))
    mixed = amp * np.exp(1j * np.angle(spec_src))
    return np.fft.ifft2(mixed, axes=(-2, -1)).real, mask


def _images(seed, shape):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, shape).astype(np.float32)


@pytest.mark.parametrize('beta,shape', [(0.09, (2, 3, 40, 56)),
                                        (0.05, (1, 3, 64, 33)),
                                        (0.5, (1, 1, 10, 14))])
def test_matches_the_reference_rule(beta, shape):
    src, trg = _images(0, shape), _images(1, shape)
    out = fda_source_to_target(torch.from_numpy(src), torch.from_numpy(trg),
                               beta)
    ref, mask = reference_fda(src, trg, beta)
    b = math.floor(min(shape[-2:]) * beta)
    assert b >= 1 and mask.sum() == 4 * b * b
    assert out.dtype == torch.float32 and tuple(out.shape) == shape
    np.testing.assert_allclose(out.numpy(), ref, atol=2e-3, rtol=0)
    # the swap really changed the image
    assert np.abs(ref - src).max() > 1.0


def test_a_band_of_zero_pixels_leaves_the_image_unchanged():
    src, trg = _images(2, (1, 3, 20, 30)), _images(3, (1, 3, 20, 30))
    out = fda_source_to_target(torch.from_numpy(src), torch.from_numpy(trg),
                               0.04)  # floor(20 * 0.04) = 0
    np.testing.assert_allclose(out.numpy(), src, atol=1e-3)


def test_one_target_for_the_whole_batch():
    src, trg = _images(4, (3, 3, 16, 16)), _images(5, (1, 3, 16, 16))
    out = fda_source_to_target(torch.from_numpy(src), torch.from_numpy(trg),
                               0.25)
    ref, _ = reference_fda(src, np.repeat(trg, 3, axis=0), 0.25)
    np.testing.assert_allclose(out.numpy(), ref, atol=2e-3)


@pytest.mark.parametrize('beta', [0, -0.1, 0.51, 1, True, '0.1'])
def test_beta_outside_the_range_is_refused(beta):
    img = torch.zeros(1, 3, 8, 8)
    with pytest.raises(ConfigCheckError, match=r'must be in \(0, 0.5\]'):
        fda_source_to_target(img, img, beta)


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match='one size'):
        fda_source_to_target(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9),
                             0.1)


def _write_targets(folder, num, size=(24, 16)):
    rng = np.random.default_rng(7)
    paths = []
    for i in range(num):
        img = rng.integers(0, 256, (size[1], size[0], 3), np.uint8)
        path = osp.join(folder, f't{i}.png')
        cv2.imwrite(path, img)
        paths.append(path)
    return paths


def test_translator_uses_drawn_target_images(tmp_path):
    _write_targets(str(tmp_path), 3)
    fda = FDATranslator(target_img_dir=str(tmp_path), beta=0.1, seed=3)
    assert missing_contract_members(fda) == []
    assert fda.trains is False and fda.domains == ('source', 'target')
    assert fda.resume_state() is None and not fda.has_perceptual_model
    src = torch.from_numpy(_images(8, (2, 3, 16, 24)))
    twin = FDATranslator(target_img_dir=str(tmp_path), beta=0.1, seed=3)
    drawn = twin.draw_targets(2)
    out = fda.translate(src, 'target')
    # the targets are the drawn files, read as RGB
    trg = twin.load_targets(drawn, (16, 24), torch.device('cpu'))
    rgb = cv2.imread(drawn[1])[..., ::-1].transpose(2, 0, 1)
    np.testing.assert_array_equal(trg[1].numpy(), rgb.astype(np.float32))
    resized = twin.load_targets(drawn, (20, 30), torch.device('cpu'))
    assert tuple(resized.shape) == (2, 3, 20, 30)
    np.testing.assert_array_equal(
        out.numpy(), fda_source_to_target(src, trg, 0.1).numpy())
    with pytest.raises(ConfigCheckError, match='target domain only'):
        fda.translate(src, 'source')
    with pytest.raises(RuntimeError, match='no training step'):
        fda.train_step({}, None)


def test_empty_target_folder_is_refused_naming_it(tmp_path):
    # a config builds without its data; the loop's start asks
    # check_inputs, which lists the images
    with pytest.raises(ConfigCheckError, match=str(tmp_path)):
        FDATranslator(target_img_dir=str(tmp_path),
                      online=False).check_inputs()
    with pytest.raises(MissingFileError, match='does not exist'):
        FDATranslator(target_img_dir=str(tmp_path / 'nope'),
                      online=False).check_inputs()
    _write_targets(str(tmp_path), 1)
    with pytest.raises(ConfigCheckError, match=r'must be in \(0, 0.5\]'):
        FDATranslator(target_img_dir=str(tmp_path), beta=0.6)


def test_a_band_of_zero_pixels_is_reported(tmp_path, monkeypatch):
    import mmbdl.models.translators.fda_translator as module
    said = []
    monkeypatch.setattr(module, 'print_log',
                        lambda msg, **kwargs: said.append(msg))
    _write_targets(str(tmp_path), 1)
    fda = FDATranslator(target_img_dir=str(tmp_path), beta=0.01)
    src = torch.from_numpy(_images(9, (1, 3, 16, 24)))
    out = fda.translate(src, 'target')
    np.testing.assert_allclose(out.numpy(), src.numpy(), atol=1e-3)
    fda.translate(src, 'target')  # once per image size
    assert said == [
        'FDA beta=0.01: the band floor(min(16, 24) * beta) is 0 pixels, so '
        '16x24 images leave FDA unchanged; raise beta to at least 0.0625'
    ]
    FDATranslator(target_img_dir=str(tmp_path), beta=0.1).translate(
        src, 'target')
    assert len(said) == 1
