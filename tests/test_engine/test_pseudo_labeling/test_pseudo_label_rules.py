"""Pseudo-label rules and the streaming selection against direct numpy
computation (sort-based exact order statistics)."""
import math

import numpy as np
import pytest
import torch

from mmbdl.engine.pseudo_labeling import (ClassConfidenceHistogram,
                                          SetConfidences,
                                          select_order_statistics,
                                          thresholds_to_float32)
from mmbdl.models.utils import (ClasswiseMedianRule, FixedThresholdRule,
                                QualityWeightRule, SoftLabelRule,
                                TopFractionRule, build_pseudo_label_rule)

NUM_CLASSES = 5
ABSENT = 3  # never predicted


def random_maps(seed=0, num_images=4, shape=(40, 50), ties=False):
    """Argmax/max of random softmax maps; class ABSENT never predicted."""
    rng = np.random.default_rng(seed)
    preds, confs = [], []
    for _ in range(num_images):
        logits = rng.normal(size=(NUM_CLASSES, ) + shape) * 2.5
        logits[ABSENT] -= 100.0
        prob = np.exp(logits - logits.max(0))
        prob = (prob / prob.sum(0)).astype(np.float32)
        conf = prob.max(0)
        if ties:  # few distinct values: many pixels tie at the threshold
            conf = (np.round(conf * 8) / 8).astype(np.float32)
            conf = np.maximum(conf, np.float32(0.25))
        preds.append(prob.argmax(0).astype(np.uint8))
        confs.append(conf)
    return preds, confs


def reference_thresholds(preds, confs, rule, cap=None, fraction=None):
    """Direct computation: concatenate, sort per class, pick the element."""
    pred = np.concatenate([p.ravel() for p in preds])
    conf = np.concatenate([c.ravel() for c in confs]).astype(np.float64)
    out = []
    for c in range(NUM_CLASSES):
        x = np.sort(conf[pred == c])
        if len(x) == 0:
            out.append(0.0)
            continue
        if rule == 'median':
            value = x[int(np.round(len(x) / 2))]
        else:
            keep = max(1, math.ceil(round(len(x) * fraction, 9)))
            value = x[::-1][keep - 1]
        out.append(min(value, cap) if cap is not None else value)
    return np.array(out)


def streaming_thresholds(policy, preds, confs, num_bins=65536):
    hist = ClassConfidenceHistogram(NUM_CLASSES, num_bins)
    for p, c in zip(preds, confs):
        hist.update(p, c)
    counts = [int(n) for n in hist.counts]
    wanted = {c: policy.selection_index(n) for c, n in enumerate(counts)
              if policy.selection_index(n) is not None}
    values = select_order_statistics(hist, wanted,
                                     lambda: zip(preds, confs),
                                     skip_above=policy.cap)
    return policy.thresholds(counts,
                             [values.get(c) for c in range(NUM_CLASSES)])


def keep_masks(thresholds, preds, confs):
    t32 = thresholds_to_float32(thresholds)
    return [c >= t32[p] for p, c in zip(preds, confs)]


def reference_keep(thresholds, preds, confs):
    # the release compares float64 confidences with float64 thresholds
    return [c.astype(np.float64) >= thresholds[p] for p, c in zip(preds,
                                                                  confs)]


@pytest.mark.parametrize('ties', [False, True])
@pytest.mark.parametrize('num_bins', [65536, 16])
def test_classwise_median_equals_sorted_median(ties, num_bins):
    preds, confs = random_maps(seed=1, ties=ties)
    policy = ClasswiseMedianRule()
    got = streaming_thresholds(policy, preds, confs, num_bins)
    ref = reference_thresholds(preds, confs, 'median', cap=0.9)
    np.testing.assert_array_equal(got, ref)
    assert got[ABSENT] == 0.0
    assert (got <= 0.9).all()
    for a, b in zip(keep_masks(got, preds, confs),
                    reference_keep(ref, preds, confs)):
        np.testing.assert_array_equal(a, b)
    if ties:  # pixels equal to the threshold are kept
        pred = np.concatenate([p.ravel() for p in preds])
        conf = np.concatenate([c.ravel() for c in confs])
        keep = np.concatenate([k.ravel() for k in keep_masks(got, preds,
                                                             confs)])
        tied = (conf == got[pred].astype(np.float32)) & (pred != ABSENT)
        assert tied.sum() > 100 and keep[tied].all()


def test_classwise_median_uncapped_and_even_counts():
    # n = 4: index round(2.0) = 2 (upper median); n = 5: round(2.5) = 2
    conf4 = np.array([0.95, 0.97, 0.99, 0.96], np.float32)
    conf5 = np.array([0.6, 0.7, 0.8, 0.9, 0.95], np.float32)
    preds = [np.array([0, 0, 0, 0, 1, 1, 1, 1, 1], np.uint8)]
    confs = [np.concatenate([conf4, conf5])]
    policy = ClasswiseMedianRule(cap=1.0)
    hist = ClassConfidenceHistogram(2, 64)
    hist.update(preds[0], confs[0])
    values = select_order_statistics(
        hist, {0: policy.selection_index(4), 1: policy.selection_index(5)},
        lambda: zip(preds, confs))
    assert values[0] == float(np.float32(0.97))
    assert values[1] == float(np.float32(0.8))


@pytest.mark.parametrize('fraction', [0.3, 0.5, 1.0])
def test_top_fraction_equals_sorted_top_share(fraction):
    preds, confs = random_maps(seed=2, ties=True)
    policy = TopFractionRule(fraction=fraction)
    got = streaming_thresholds(policy, preds, confs, 256)
    ref = reference_thresholds(preds, confs, 'top', fraction=fraction)
    np.testing.assert_array_equal(got, ref)
    pred = np.concatenate([p.ravel() for p in preds])
    keep = np.concatenate([k.ravel() for k in keep_masks(got, preds, confs)])
    for c in range(NUM_CLASSES):
        n = (pred == c).sum()
        if n:  # at least the share is kept (more only through ties)
            assert keep[pred == c].sum() >= math.ceil(n * fraction - 1e-9)


def test_fixed_threshold_compares_like_float64():
    policy = FixedThresholdRule(0.9)
    thr = policy.thresholds([3, 0], [None, None])
    np.testing.assert_array_equal(thr, [0.9, 0.9])
    conf = np.array([np.float32(0.9), np.nextafter(np.float32(0.9),
                                                   np.float32(1)), 0.95],
                    np.float32)
    pred = np.zeros(3, np.uint8)
    # float32(0.9) < 0.9 in float64: dropped, as in the release
    np.testing.assert_array_equal(keep_masks(thr, [pred], [conf])[0],
                                  conf.astype(np.float64) >= 0.9)
    assert keep_masks(thr, [pred], [conf])[0].tolist() == [False, True, True]
    keep, _ = policy.keep_weight(pred, conf)
    assert keep.tolist() == [False, True, True]


def test_soft_policy_keeps_everything():
    policy = build_pseudo_label_rule('soft')
    assert isinstance(policy, SoftLabelRule) and policy.weighted
    assert not policy.needs_fit
    np.testing.assert_array_equal(policy.class_thresholds(2), [0.0, 0.0])
    conf = np.array([0.2, 0.7], np.float32)
    keep, weight = policy.keep_weight(np.array([1, 0], np.uint8), conf)
    assert keep.tolist() == [True, True] and weight is conf


def test_build_policy_from_names_and_dicts():
    assert isinstance(build_pseudo_label_rule(None), ClasswiseMedianRule)
    p = build_pseudo_label_rule(dict(type='top_fraction', fraction=0.2,
                                     cap=0.95))
    assert p.to_dict() == dict(type='top_fraction', fraction=0.2, cap=0.95)
    assert build_pseudo_label_rule('FixedThresholdRule').threshold == 0.9
    with pytest.raises(ValueError, match='unknown pseudo-label rule'):
        build_pseudo_label_rule('median')
    with pytest.raises(ValueError, match='bad arguments'):
        build_pseudo_label_rule(dict(type='fixed', fraction=0.5))
    with pytest.raises(ValueError, match='fraction'):
        TopFractionRule(fraction=0.0)


def test_first_pass_median_within_1e3_and_exact_after_refinement():
    rng = np.random.default_rng(3)
    conf = rng.beta(8, 2, size=200_000).astype(np.float32)
    conf = np.clip(conf, np.float32(1 / 19), np.float32(1.0))
    conf[:500] = 1.0  # values in the last bin
    pred = rng.integers(0, 3, size=conf.size).astype(np.uint8)
    hist = ClassConfidenceHistogram(3)
    for chunk in np.array_split(np.arange(conf.size), 7):
        hist.update(pred[chunk], conf[chunk])
    for c in range(3):
        x = np.sort(conf[pred == c])
        k = int(round(len(x) / 2))
        approx = hist.approximate_values({c: k})[c]
        assert abs(approx - x[k]) < 1e-3
        exact = select_order_statistics(hist, {c: k},
                                        lambda: [(pred, conf)])[c]
        assert exact == float(x[k])
        top = select_order_statistics(hist, {c: len(x) - 1},
                                      lambda: [(pred, conf)])[c]
        assert top == 1.0


def test_histogram_memory_does_not_depend_on_data():
    hist = ClassConfidenceHistogram(19)
    size = hist.hist.nbytes
    pred = np.zeros((64, 128), np.uint8)
    conf = np.full((64, 128), 0.7, np.float32)
    for _ in range(20):
        hist.update(pred, conf)
    assert hist.hist.nbytes == size and int(hist.counts[0]) == 20 * 64 * 128
    pred[:, :4] = 255  # ignored pixels are not counted
    hist.update(pred, conf)
    assert int(hist.counts.sum()) == 21 * 64 * 128 - 64 * 4


def test_skip_above_cap_needs_no_refinement():
    pred = np.zeros(10, np.uint8)
    conf = np.full(10, 0.99, np.float32)
    hist = ClassConfidenceHistogram(1)
    hist.update(pred, conf)
    hist.plan({0: 5}, skip_above=0.9)
    assert not hist.needs_refinement
    assert ClasswiseMedianRule().thresholds(
        [10], [hist.selected_values()[0]])[0] == 0.9


def test_fit_gives_the_streamed_thresholds_and_keeps_by_them():
    preds, confs = random_maps(seed=5)
    hist = ClassConfidenceHistogram(NUM_CLASSES)
    for p, c in zip(preds, confs):
        hist.update(p, c)
    rule = ClasswiseMedianRule()
    with pytest.raises(RuntimeError, match='call fit'):
        rule.keep_weight(preds[0], confs[0])
    rule.fit(SetConfidences(hist, lambda: zip(preds, confs)))
    ref = reference_thresholds(preds, confs, 'median', cap=0.9)
    np.testing.assert_array_equal(rule.class_thresholds(NUM_CLASSES), ref)
    keep, weight = rule.keep_weight(preds[0], confs[0])
    assert weight is None
    np.testing.assert_array_equal(
        keep, confs[0] >= thresholds_to_float32(ref)[preds[0]])
    # select on probabilities (the online path) agrees with keep_weight
    prob = torch.zeros(1, NUM_CLASSES, *preds[0].shape)
    prob.scatter_(1, torch.from_numpy(preds[0]).long()[None, None],
                  torch.from_numpy(confs[0])[None, None])
    label, _ = rule.select(prob)
    np.testing.assert_array_equal(
        label[0].numpy(), np.where(keep, preds[0], 255))


def test_quality_rule_labels_everything_weighted_by_the_confident_share():
    rule = build_pseudo_label_rule(dict(type='daformer_quality',
                                        threshold=0.5))
    assert isinstance(rule, QualityWeightRule) and rule.weighted
    prob = torch.tensor([[[[0.6, 0.2], [0.9, 0.4]],
                          [[0.4, 0.8], [0.1, 0.6]]]])
    label, weight = rule.select(prob)
    assert label.tolist() == [[[0, 1], [0, 1]]]
    # max probabilities 0.6 0.8 0.9 0.6: all four >= 0.5
    torch.testing.assert_close(weight, torch.ones(1, 2, 2))
    prob[0, :, 0, 0] = torch.tensor([0.45, 0.55])
    prob[0, :, 1, 1] = torch.tensor([0.52, 0.48])
    assert rule.trusted(prob).sum() == 4
    rule = QualityWeightRule(threshold=0.56)
    torch.testing.assert_close(rule.select(prob)[1],
                               torch.full((1, 2, 2), 0.5))
    with pytest.raises(ValueError, match='threshold'):
        QualityWeightRule(threshold=1.0)
