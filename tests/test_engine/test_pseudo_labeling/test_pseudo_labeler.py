"""PseudoLabeler: inference like the release, labels, statistics, errors."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.dataset import pseudo_collate
from tiny_pseudo_label import (build_segmentor, target_dataset_cfg,
                               write_target_set)

from mmbdl.engine.pseudo_labeling import (COMPLETE_FILE, STATS_FILE,
                                          PseudoLabeler, TargetImageError,
                                          prepare_round_dir)
from mmbdl.registry import DATASETS


@pytest.fixture(scope='module')
def target(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('target'))
    rels = write_target_set(root, num_images=4)
    return root, rels


@pytest.fixture(scope='module')
def segmentor():
    return build_segmentor()


def dataset(root, **kwargs):
    return DATASETS.build(target_dataset_cfg(root, **kwargs))


def collect(labeler, ds):
    """pred/conf/gt of every image, in memory (the reference's input)."""
    out = {}
    for i in range(len(ds)):
        res = labeler.predict(pseudo_collate([ds[i]]))[0]
        out[res['img_path']] = res
    return out


def read(path):
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    assert img is not None, path
    return img


def test_predict_matches_release_inference(target, segmentor):
    root, _ = target
    ds = dataset(root)
    labeler = PseudoLabeler(segmentor)
    batch = pseudo_collate([ds[0]])
    res = labeler.predict(batch)[0]
    # the release: softmax of the 1/8 logits, bilinear align_corners=True
    # to the label size, argmax / max
    data = segmentor.data_preprocessor(batch, False)
    with torch.no_grad():
        logits = segmentor.decode_head(segmentor.extract_feat(data['inputs']))
    assert logits.shape[-2:] == (4, 8)  # 1/8 of 32x64
    prob = F.interpolate(logits.softmax(1), size=(32, 64), mode='bilinear',
                         align_corners=True)[0]
    conf, pred = prob.max(0)
    np.testing.assert_array_equal(res['pred'], pred.numpy())
    np.testing.assert_array_equal(res['conf'], conf.numpy())
    assert res['pred'].dtype == np.uint8 and res['conf'].dtype == np.float32
    assert res['gt'].shape == (32, 64) and res['gt'][0, 0] == 255


def test_flip_and_multiscale_average_probabilities(target, segmentor):
    root, _ = target
    ds = dataset(root, labels=False)
    batch = pseudo_collate([ds[1]])
    data = segmentor.data_preprocessor(batch, False)
    x = data['inputs']

    def probs(inp):
        with torch.no_grad():
            lg = segmentor.decode_head(segmentor.extract_feat(inp))
        return F.interpolate(lg.softmax(1), size=(32, 64), mode='bilinear',
                             align_corners=True)

    flip = PseudoLabeler(segmentor, flip=True).predict(batch)[0]
    ref = (probs(x) + probs(x.flip(-1)).flip(-1)) / 2
    np.testing.assert_allclose(flip['conf'], ref[0].max(0)[0].numpy(),
                               atol=1e-6)
    ms = PseudoLabeler(segmentor, scales=(1.0, 2.0)).predict(batch)[0]
    big = F.interpolate(x, size=(64, 128), mode='bilinear',
                        align_corners=False)
    ref = (probs(x) + probs(big)) / 2
    np.testing.assert_allclose(ms['conf'], ref[0].max(0)[0].numpy(),
                               atol=1e-6)
    assert ms['gt'] is None


def test_label_dataset_writes_release_labels_and_stats(target, segmentor,
                                                       tmp_path):
    root, rels = target
    ds = dataset(root)
    labeler = PseudoLabeler(segmentor)
    out = str(tmp_path / 'round')
    assert prepare_round_dir(out, dict(a=1)) is None
    meta = labeler.label_dataset(dataset(root), out, progress=False)
    # reference: the released rule computed directly on all pixels
    results = collect(labeler, ds)
    pred = np.concatenate([r['pred'].ravel() for r in results.values()])
    conf = np.concatenate([r['conf'].ravel() for r in results.values()])
    thr = []
    for c in range(3):
        x = np.sort(conf[pred == c].astype(np.float64))
        thr.append(min(x[int(np.round(len(x) / 2))], 0.9) if len(x) else 0)
    np.testing.assert_array_equal(meta['thresholds'], thr)
    kept = gt_kept = correct = 0
    for path, r in results.items():
        rel = osp.splitext(osp.relpath(path, osp.join(
            root, 'leftImg8bit/train')))[0]
        label = read(osp.join(out, rel + '.png'))
        keep = r['conf'].astype(np.float64) >= np.array(thr)[r['pred']]
        np.testing.assert_array_equal(label,
                                      np.where(keep, r['pred'], 255))
        kept += keep.sum()
        valid = r['gt'] != 255
        gt_kept += (keep & valid).sum()
        correct += (keep & valid & (r['gt'] == r['pred'])).sum()
    assert sorted(rels) == sorted(
        osp.splitext(osp.relpath(p, osp.join(root, 'leftImg8bit/train')))[0]
        for p in results)
    stats = json.load(open(osp.join(out, STATS_FILE)))
    assert stats['kept_ratio'] == pytest.approx(kept / pred.size)
    assert stats['accuracy_kept'] == pytest.approx(correct / gt_kept)
    assert stats['num_images'] == 4 and stats['num_pixels'] == pred.size
    complete = json.load(open(osp.join(out, COMPLETE_FILE)))
    assert complete['num_files'] == 4
    assert complete['stats'] == stats == meta['stats']
    assert complete['policy'] == dict(type='classwise_median', cap=0.9)
    # nothing temporary is left
    leftovers = [f for _, _, fs in os.walk(out) for f in fs
                 if f.endswith('.tmp') or f.endswith('.npy')]
    assert leftovers == [] and not osp.exists(osp.join(out, '.cache'))
    assert not osp.exists(osp.join(out, '.in_progress.json'))


def test_soft_policy_margin_and_label_size(target, segmentor, tmp_path):
    root, rels = target
    labeler = PseudoLabeler(segmentor, policy='soft', label_size=(16, 40),
                            ignore_margin=(2, 3))
    out = str(tmp_path / 'soft')
    prepare_round_dir(out, dict(a=1))
    meta = labeler.label_dataset(dataset(root), out, progress=False)
    label = read(osp.join(out, rels[0] + '.png'))
    weight = read(osp.join(out, rels[0] + '.weight.png'))
    assert label.shape == weight.shape == (16, 40)
    assert (label[:2] == 255).all() and (label[-3:] == 255).all()
    assert (weight[:2] == 0).all() and (weight[-3:] == 0).all()
    assert (label[2:-3] < 3).all() and weight[2:-3].min() >= 255 // 3
    assert meta['stats']['kept_ratio'] == 1.0
    assert meta['stats']['num_pixels'] == 4 * 11 * 40
    assert meta['num_weight_files'] == 4


def test_fixed_policy_single_pass(target, segmentor, tmp_path):
    root, rels = target
    labeler = PseudoLabeler(segmentor, policy=dict(type='fixed',
                                                   threshold=0.6))
    out = str(tmp_path / 'fixed')
    prepare_round_dir(out, dict(a=1))
    meta = labeler.label_dataset(dataset(root), out, progress=False)
    assert meta['thresholds'] == [0.6, 0.6, 0.6]
    res = collect(labeler, dataset(root))
    path = [p for p in res if rels[2] in p][0]
    np.testing.assert_array_equal(
        read(osp.join(out, rels[2] + '.png')),
        np.where(res[path]['conf'].astype(np.float64) >= 0.6,
                 res[path]['pred'], 255))


def test_class_count_mismatch_is_refused(target, tmp_path):
    root, _ = target
    labeler = PseudoLabeler(build_segmentor(num_classes=5))
    with pytest.raises(ValueError, match='predicts 5 classes but the target '
                       'dataset has 3'):
        labeler.label_dataset(dataset(root), str(tmp_path / 'x'),
                              progress=False)


def test_unreadable_target_image_is_named(tmp_path, segmentor):
    root = str(tmp_path / 'broken')
    rels = write_target_set(root, num_images=2, labels=False)
    bad = osp.join(root, 'leftImg8bit', 'train', rels[1] + '.png')
    with open(bad, 'wb') as f:
        f.write(b'not a png')
    out = str(tmp_path / 'out')
    prepare_round_dir(out, dict(a=1))
    with pytest.raises(TargetImageError, match=rels[1]):
        PseudoLabeler(segmentor).label_dataset(
            dataset(root, labels=False), out, progress=False)


def test_round_dir_with_foreign_files_is_never_touched(tmp_path):
    folder = tmp_path / 'mine'
    folder.mkdir()
    (folder / 'notes.txt').write_text('keep me')
    with pytest.raises(ValueError, match='not a pseudo-label folder'):
        prepare_round_dir(str(folder), dict(a=1), overwrite=True)
    assert (folder / 'notes.txt').read_text() == 'keep me'


def test_padded_inputs_are_cropped(target, segmentor):
    """A preprocessor that pads at test time: probabilities are upsampled to
    the padded size and cropped back to the image."""
    root, _ = target
    ds = dataset(root, labels=False)
    dp = dict(type='SegDataPreProcessor', mean=[104.0, 116.7, 122.7],
              std=[1.0, 1.0, 1.0], bgr_to_rgb=False, pad_val=0,
              seg_pad_val=255, test_cfg=dict(size=(40, 72)))
    labeler = PseudoLabeler(segmentor, data_preprocessor=dp)
    batch = pseudo_collate([ds[0]])
    res = labeler.predict(batch)[0]
    assert res['pred'].shape == res['conf'].shape == (32, 64)
    data = labeler.data_preprocessor(batch, False)
    assert data['inputs'].shape[-2:] == (40, 72)
    with torch.no_grad():
        logits = segmentor.decode_head(segmentor.extract_feat(data['inputs']))
    prob = F.interpolate(logits.softmax(1), size=(40, 72), mode='bilinear',
                         align_corners=True)[0, :, :32, :64]
    np.testing.assert_array_equal(res['conf'], prob.max(0)[0].numpy())


def test_custom_cache_dir_keeps_other_files(target, segmentor, tmp_path):
    root, rels = target
    cache = tmp_path / 'scratch'
    cache.mkdir()
    (cache / 'other.txt').write_text('not ours')
    out = str(tmp_path / 'round')
    prepare_round_dir(out, dict(a=1))
    PseudoLabeler(segmentor).label_dataset(dataset(root), out,
                                           cache_dir=str(cache),
                                           progress=False)
    assert sorted(os.listdir(cache)) == ['other.txt']
    assert osp.isfile(osp.join(out, rels[0] + '.png'))
    assert not osp.exists(osp.join(out, '.cache'))
