"""One rule, registered by a plugin, used by the offline writer and by the
online EMA teacher alike."""
import os.path as osp

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.dataset import pseudo_collate
from tiny_entropy_rule import EntropyRule
from tiny_pseudo_label import (build_segmentor, target_dataset_cfg,
                               write_target_set)
from tiny_uda import tiny_uda_cfg, uda_batch

from mmbdl.engine.hooks import PseudoLabelHook
from mmbdl.engine.pseudo_labeling import (COMPLETE_FILE, PseudoLabeler,
                                          pseudo_label_relpath)
from mmbdl.registry import DATASETS, MODELS

RULE = dict(type='EntropyRule', max_entropy=0.6)


def test_offline_writer_uses_the_plugin_rule(tmp_path):
    root = str(tmp_path / 'target')
    rels = write_target_set(root, num_images=3)
    # the hook validates the config through the registry
    PseudoLabelHook(dataloader=dict(dataset=target_dataset_cfg(root)),
                    policy=RULE)
    labeler = PseudoLabeler(build_segmentor(), policy=RULE)
    assert isinstance(labeler.rule, EntropyRule)
    ds = DATASETS.build(target_dataset_cfg(root))
    out = str(tmp_path / 'round')
    meta = labeler.label_dataset(ds, out, progress=False)
    assert osp.isfile(osp.join(out, COMPLETE_FILE))
    assert meta['policy'] == RULE and meta['num_weight_files'] == len(rels)
    # reference: the rule on the probabilities of each image
    labeler.keep_probs = True
    for i in range(len(ds)):
        res = labeler.predict(pseudo_collate([ds[i]]))[0]
        prob = res['prob']
        ent = -(prob * prob.clamp(min=1e-12).log()).sum(1)[0] / np.log(3)
        keep = (ent <= 0.6).numpy()
        want = np.where(keep, res['pred'], 255).astype(np.uint8)
        rel = pseudo_label_relpath(res['img_path'],
                                   osp.join(root, 'leftImg8bit/train'))
        got = cv2.imread(osp.join(out, rel + '.png'), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(got, want)
        weight = cv2.imread(osp.join(out, rel + '.weight.png'),
                            cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(
            weight, np.rint((1 - ent).clamp(0, 1).numpy() * 255))
    kept = meta['stats']['kept_ratio']
    assert 0.0 < kept < 1.0


def test_ema_teacher_uses_the_plugin_rule():
    torch.manual_seed(0)
    cfg = tiny_uda_cfg()
    cfg.update(type='EMATeacherSegmentor', ema_cfg=dict(rule=RULE))
    model = MODELS.build(cfg)
    model.init_weights()
    assert isinstance(model.rule, EntropyRule)
    images = uda_batch(2, seed=3)['inputs']['target']
    labels, weights = model.teacher_labels(images)
    with torch.no_grad():
        t = model.teacher
        logits = t.decode_head.forward(t.extract_feat(images))
        probs = F.interpolate(logits.float(), images.shape[-2:],
                              mode='bilinear',
                              align_corners=model.align_corners).softmax(1)
    want_labels, want_weights = EntropyRule(0.6).select(probs)
    assert torch.equal(labels, want_labels)
    assert (labels == 255).any() and (labels != 255).any()
    torch.testing.assert_close(weights, want_weights)
    stats = model.label_statistics()
    assert stats['rule'] == RULE
    assert stats['pixel_ratio'] == float((labels != 255).float().mean())
