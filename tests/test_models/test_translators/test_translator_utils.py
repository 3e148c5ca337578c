"""The generator -> segmentor input conversion, pinned against the
segmentor's own data preprocessor on the same uint8 image."""
import numpy as np
import pytest
import torch
from mmagic.structures import DataSample
from mmseg.structures import SegDataSample
from tiny_translator import CAFFE_MEAN, tiny_segmentor_cfg

from mmbdl.models.translators import (generator_to_segmentor_input,
                                      get_generator_normalization,
                                      get_segmentor_normalization)
from mmbdl.registry import MODELS


def _uint8_bgr(seed=0, h=12, w=10):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    img[0, 0] = (0, 0, 0)
    img[0, 1] = (255, 255, 255)
    return torch.from_numpy(img).permute(2, 0, 1).contiguous()  # CHW BGR


def _generator_input(img_chw_bgr):
    """What the translator's preprocessor feeds the generators."""
    pre = MODELS.build(dict(type='mmagic.DataPreprocessor', mean=127.5,
                            std=127.5, output_channel_order='RGB',
                            data_keys=['img_source']))
    sample = DataSample()
    sample.set_metainfo(dict(img_source_channel_order='bgr'))
    out = pre(dict(inputs=[dict(img_source=img_chw_bgr)],
                   data_samples=[sample]), True)
    return out['inputs']['img_source'], pre


@pytest.mark.parametrize('caffe', [True, False])
def test_conversion_matches_segmentor_preprocessor(caffe):
    img = _uint8_bgr()
    segmentor = MODELS.build(tiny_segmentor_cfg(caffe=caffe))
    seg_pre = segmentor.data_preprocessor
    expected = seg_pre(dict(inputs=[img], data_samples=[SegDataSample()]),
                       False)['inputs']
    gen_in, gen_pre = _generator_input(img)
    assert gen_in.min() >= -1 and gen_in.max() <= 1
    got = generator_to_segmentor_input(
        gen_in, get_segmentor_normalization(seg_pre),
        get_generator_normalization(gen_pre))
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-4)
    # the default generator normalisation is the same [-1, 1] RGB
    torch.testing.assert_close(
        generator_to_segmentor_input(gen_in,
                                     get_segmentor_normalization(seg_pre)),
        expected, rtol=0, atol=1e-4)


def test_caffe_formula_of_the_release():
    """BGR(255 * (x + 1) / 2) - mean, no std, for x in [-1, 1] RGB."""
    x = torch.rand(2, 3, 5, 4) * 2 - 1
    seg_pre = MODELS.build(tiny_segmentor_cfg(caffe=True)).data_preprocessor
    norm = get_segmentor_normalization(seg_pre)
    assert norm.channel_order == 'BGR'
    torch.testing.assert_close(norm.mean.flatten(), torch.tensor(CAFFE_MEAN))
    torch.testing.assert_close(norm.std.flatten(), torch.ones(3))
    expected = 255 * (x.flip(1) + 1) / 2 - torch.tensor(CAFFE_MEAN).view(
        1, 3, 1, 1)
    torch.testing.assert_close(generator_to_segmentor_input(x, norm),
                               expected)


def test_gradient_flows_through_conversion():
    x = torch.zeros(1, 3, 2, 2, requires_grad=True)
    seg_pre = MODELS.build(tiny_segmentor_cfg(caffe=False)).data_preprocessor
    generator_to_segmentor_input(x, get_segmentor_normalization(seg_pre)
                                 ).sum().backward()
    # d/dx of (127.5 x + 127.5 - mean) / std, channels in the same order
    std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    torch.testing.assert_close(x.grad, (127.5 / std).expand_as(x))


def test_preprocessor_without_normalisation_info():
    with pytest.raises(TypeError, match='SegDataPreProcessor'):
        get_segmentor_normalization(torch.nn.Identity())
