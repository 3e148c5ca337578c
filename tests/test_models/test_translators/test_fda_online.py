"""FDA online, as its release trains: every source image of a raw UDA batch
takes the low-frequency amplitude of the same batch's target image."""
import numpy as np
import pytest
import torch
from PIL import Image

from mmbdl.models.translators import FDATranslator
from mmbdl.utils.errors import ConfigCheckError


def release_rule(src: np.ndarray, trg: np.ndarray, beta: float):
    """The release's training rule in numpy (float64): the amplitude of
    every frequency whose row and column index both lie within ``b`` of 0
    (mod the size) comes from ``trg``, the phase from ``src``."""
    h, w = src.shape[-2:]
    b = int(np.floor(min(h, w) * beta))
    rows, cols = np.arange(h), np.arange(w)
    mask = ((rows < b) | (rows >= h - b))[:, None] & \
        ((cols < b) | (cols >= w - b))[None, :]
    spec_src = np.fft.fft2(src.astype(np.float64))
    spec_trg = np.fft.fft2(trg.astype(np.float64))
    amp = np.where(mask, np.abs(spec_trg), np.abs(spec_src))
    return np.fft.ifft2(amp * np.exp(1j * np.angle(spec_src))).real


def raw_batch(num, src_hw, trg_hw, seed=0, target=True):
    """A UDADataset batch before the data preprocessor (uint8 lists)."""
    g = torch.Generator().manual_seed(seed)

    def images(hw):
        return [torch.randint(0, 256, (3, *hw), generator=g,
                              dtype=torch.uint8) for _ in range(num)]

    inputs = dict(source=images(src_hw))
    samples = dict(source=[f's{i}' for i in range(num)])
    if target:
        inputs['target'] = images(trg_hw)
        samples['target'] = [f't{i}' for i in range(num)]
    return dict(inputs=inputs, data_samples=samples)


def test_each_source_image_takes_its_own_target_image():
    batch = raw_batch(3, (24, 40), (24, 40))
    before = [img.clone() for img in batch['inputs']['source']]
    fda = FDATranslator(beta=0.1)  # online by default, no folder needed
    assert fda.online is True
    fda.check_inputs()  # online: the batches bring the target images
    out = fda.translate_batch(batch)
    srcs, trgs = batch['inputs']['source'], batch['inputs']['target']
    for i, img in enumerate(out['inputs']['source']):
        assert img.dtype == torch.float32 and tuple(img.shape) == (3, 24, 40)
        ref = release_rule(srcs[i].numpy(), trgs[i].numpy(), 0.1)
        np.testing.assert_allclose(img.numpy(), ref, atol=2e-3, rtol=0)
        # the pairing matters: another target image gives another image
        other = release_rule(srcs[i].numpy(), trgs[(i + 1) % 3].numpy(), 0.1)
        assert np.abs(img.numpy() - other).max() > 1.0
    # the target branch and the samples pass unchanged, the input batch is
    # not modified
    assert out['inputs']['target'] is trgs
    assert out['data_samples'] is batch['data_samples']
    for old, new in zip(before, batch['inputs']['source']):
        assert new.dtype == torch.uint8 and torch.equal(old, new)


def test_a_stacked_batch_stays_stacked():
    batch = raw_batch(2, (16, 16), (16, 16), seed=1)
    batch['inputs'] = {k: torch.stack(v) for k, v in batch['inputs'].items()}
    out = FDATranslator(beta=0.25).translate_batch(batch)['inputs']['source']
    assert isinstance(out, torch.Tensor) and tuple(out.shape) == (2, 3, 16, 16)
    ref = release_rule(batch['inputs']['source'][1].numpy(),
                       batch['inputs']['target'][1].numpy(), 0.25)
    np.testing.assert_allclose(out[1].numpy(), ref, atol=2e-3, rtol=0)


def test_a_target_of_another_size_is_resized_to_the_source_size():
    # the paper configs: GTA5 at 1280x720 with Cityscapes at 1024x512
    batch = raw_batch(1, (36, 64), (24, 40), seed=2)
    out = FDATranslator(beta=0.09).translate_batch(batch)
    trg = batch['inputs']['target'][0].permute(1, 2, 0).numpy()
    resized = np.asarray(Image.fromarray(trg).resize((64, 36),
                                                     Image.BICUBIC))
    ref = release_rule(batch['inputs']['source'][0].numpy(),
                       resized.transpose(2, 0, 1), 0.09)
    np.testing.assert_allclose(out['inputs']['source'][0].numpy(), ref,
                               atol=2e-3, rtol=0)


def test_a_batch_without_a_target_branch_is_refused():
    fda = FDATranslator(beta=0.1)
    with pytest.raises(ConfigCheckError,
                       match=r"no source and target branches \(inputs: "
                       r"\['source'\]\).*UDADataset"):
        fda.translate_batch(raw_batch(2, (8, 8), None, target=False))
    plain = dict(inputs=[torch.zeros(3, 8, 8, dtype=torch.uint8)])
    with pytest.raises(ConfigCheckError, match=r'\(inputs: list\)'):
        fda.translate_batch(plain)
    uneven = raw_batch(2, (8, 8), (8, 8))
    uneven['inputs']['target'] = uneven['inputs']['target'][:1]
    with pytest.raises(ConfigCheckError,
                       match='got 2 source and 1 target images'):
        fda.translate_batch(uneven)


def test_the_modes_settings_are_checked(tmp_path):
    with pytest.raises(ConfigCheckError, match='online=False.*needs '
                       'target_img_dir'):
        FDATranslator(online=False)
    with pytest.raises(ConfigCheckError, match="online='yes' must be"):
        FDATranslator(online='yes')
    # online, translate() (tools/translate.py) still needs the folder
    with pytest.raises(ConfigCheckError, match='target_img_dir, which is '
                       'not set'):
        FDATranslator().translate(torch.zeros(1, 3, 8, 8), 'target')
    # offline, the loop's start refuses an empty folder, naming it
    with pytest.raises(ConfigCheckError, match=str(tmp_path)):
        FDATranslator(target_img_dir=str(tmp_path),
                      online=False).check_inputs()
