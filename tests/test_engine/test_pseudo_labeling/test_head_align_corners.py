"""The pseudo-labeller resizes with the decode head's align_corners."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine.dataset import pseudo_collate
from tiny_pseudo_label import (build_segmentor, target_dataset_cfg,
                               write_target_set)

from mmbdl.engine.pseudo_labeling import PseudoLabeler
from mmbdl.registry import DATASETS


@pytest.mark.parametrize('align', [True, False])
def test_probabilities_follow_the_head(tmp_path, align):
    root = str(tmp_path)
    write_target_set(root, num_images=1)
    ds = DATASETS.build(target_dataset_cfg(root, labels=False))
    seg = build_segmentor()
    seg.decode_head.align_corners = align
    batch = pseudo_collate([ds[0]])
    res = PseudoLabeler(seg).predict(batch)[0]
    x = seg.data_preprocessor(copy.deepcopy(batch), False)['inputs']
    with torch.no_grad():
        logits = seg.decode_head(seg.extract_feat(x))
    ref = F.interpolate(logits.softmax(1), size=x.shape[-2:],
                        mode='bilinear', align_corners=align)
    torch.testing.assert_close(torch.from_numpy(res['conf']),
                               ref[0].max(0)[0], atol=1e-6, rtol=0)


def test_head_without_align_corners_is_named():
    seg = build_segmentor()
    del seg.decode_head.align_corners
    with pytest.raises(AttributeError) as err:
        PseudoLabeler(seg)
    msg = str(err.value)
    assert 'FCNHead' in msg
    assert 'model.segmentor.segmentor.decode_head.align_corners' in msg
