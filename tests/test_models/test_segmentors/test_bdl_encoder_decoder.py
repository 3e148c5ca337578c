"""BDLEncoderDecoder: softmax probabilities resized, then argmax."""
import torch
import torch.nn.functional as F
from mmseg.structures import SegDataSample
from tiny_uda import tiny_segmentor_cfg

from mmbdl.registry import MODELS


def _model(**kw):
    torch.manual_seed(0)
    cfg = tiny_segmentor_cfg()
    cfg.update(kw)
    model = MODELS.build(cfg)
    model.init_weights()
    return model.eval()


def test_predict_resizes_probabilities_with_align_corners():
    model = _model()
    x = torch.randn(1, 3, 24, 40)
    sample = SegDataSample(metainfo=dict(
        ori_shape=(48, 80), img_shape=(24, 40), padding_size=[0, 0, 0, 0]))
    with torch.no_grad():
        (out, ) = model.predict(x, [sample])
        logits = model.decode_head.forward(model.extract_feat(x))
    assert logits.shape[2:] == (4, 6)  # 1/8 resolution (ceil-mode stem)
    probs = F.interpolate(torch.softmax(logits, 1), size=(48, 80),
                          mode='bilinear', align_corners=True)[0]
    torch.testing.assert_close(out.seg_logits.data, probs)
    assert torch.equal(out.pred_sem_seg.data[0], probs.argmax(0))
    torch.testing.assert_close(out.seg_logits.data.sum(0),
                               torch.ones(48, 80))


def test_padding_is_removed_in_input_pixels():
    model = _model()
    x = torch.randn(1, 3, 24, 40)
    sample = SegDataSample(metainfo=dict(
        ori_shape=(20, 32), img_shape=(20, 32), padding_size=[0, 8, 0, 4]))
    with torch.no_grad():
        (out, ) = model.predict(x, [sample])
        logits = model.decode_head.forward(model.extract_feat(x))
    up = F.interpolate(torch.softmax(logits, 1), size=(24, 40),
                       mode='bilinear', align_corners=True)[:, :, :20, :32]
    torch.testing.assert_close(out.seg_logits.data, up[0])


def test_switch_off_gives_mmseg_behaviour():
    model = _model(resize_probs=False)
    x = torch.randn(1, 3, 24, 40)
    sample = SegDataSample(metainfo=dict(
        ori_shape=(48, 80), img_shape=(24, 40), padding_size=[0, 0, 0, 0]))
    with torch.no_grad():
        (out, ) = model.predict(x, [sample])
    # mmseg keeps logits (not probabilities)
    assert not torch.allclose(out.seg_logits.data.sum(0),
                              torch.ones(48, 80))
