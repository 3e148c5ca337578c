"""BDLIoUMetric against hand-computed confusion matrices."""
import math

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.evaluation import IoUMetric
from mmseg.structures import SegDataSample

from mmbdl.evaluation import BDLIoUMetric
from mmbdl.registry import METRICS


def sample(label, pred, name='x.png'):
    s = SegDataSample(
        gt_sem_seg=PixelData(data=torch.tensor(label)[None]),
        pred_sem_seg=PixelData(data=torch.tensor(pred)[None]))
    s.set_metainfo(dict(img_path=name))
    return s.to_dict()


def run(metric, pairs, classes):
    metric.dataset_meta = dict(classes=classes)
    metric.process({}, [sample(lbl, prd) for lbl, prd in pairs])
    return metric.evaluate(len(pairs))


A = ([[0, 0, 1, 255], [2, 2, 1, 0]], [[0, 1, 1, 3], [2, 0, 1, 0]])
B = ([[3, 1]], [[0, 1]])


def test_confusion_matrix_by_hand():
    conf = BDLIoUMetric.confusion_matrix(
        torch.tensor(A[1]), torch.tensor(A[0]), 4)
    np.testing.assert_array_equal(
        conf, [[2, 1, 0, 0], [0, 2, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]])


def test_scores_with_absent_and_never_predicted_classes():
    # class 3 neither present nor predicted (the 3 under 255 is ignored):
    # NaN, left out of the mean
    m = run(BDLIoUMetric(), [A], ('a', 'b', 'c', 'd'))
    assert m['IoU.a'] == 50.0 and m['IoU.b'] == 66.67
    assert m['IoU.c'] == 50.0 and math.isnan(m['IoU.d'])
    assert m['mIoU'] == round(100 * (0.5 + 2 / 3 + 0.5) / 3, 2)
    assert m['aAcc'] == round(100 * 5 / 7, 2)
    # summed over samples; class 3 present but never predicted: IoU 0
    m = run(BDLIoUMetric(class_subsets=dict(mIoU2=[1, 2])), [A, B],
            ('a', 'b', 'c', 'd'))
    # conf = [[2,1,0,0],[0,3,0,0],[1,0,1,0],[1,0,0,0]]
    assert m['IoU.a'] == 40.0 and m['IoU.b'] == 75.0
    assert m['IoU.c'] == 50.0 and m['IoU.d'] == 0.0
    assert m['mIoU'] == 41.25 and m['mIoU2'] == 62.5
    assert m['aAcc'] == round(100 * 6 / 9, 2)


def test_predicted_but_absent_class_counts_as_zero():
    m = run(BDLIoUMetric(num_classes=3), [([[0, 0]], [[0, 1]])],
            ('a', 'b', 'c'))
    assert m['IoU.a'] == 50.0 and m['IoU.b'] == 0.0
    assert math.isnan(m['IoU.c']) and m['mIoU'] == 25.0


def test_19_classes_subsets_and_mmseg_agreement():
    rng = np.random.default_rng(0)
    classes = tuple(f'c{i}' for i in range(19))
    pairs = []
    for _ in range(3):
        label = rng.integers(0, 19, size=(16, 16))
        label[label == 16] = 255  # class 16 never present
        pred = np.where(rng.random((16, 16)) < 0.6, label,
                        rng.integers(0, 19, size=(16, 16)))
        pred[pred == 255] = 0
        pred[pred == 14] = 0  # class 14 never predicted
        pairs.append((label.tolist(), pred.tolist()))
    m = run(METRICS.build(dict(type='BDLIoUMetric')), pairs, classes)
    ref = IoUMetric()
    ref.dataset_meta = dict(classes=classes)
    ref.process({}, [sample(lbl, prd) for lbl, prd in pairs])
    assert m['mIoU'] == pytest.approx(ref.evaluate(3)['mIoU'], abs=0.01)
    iou = np.array([m[f'IoU.{c}'] for c in classes])
    keep16 = [i for i in range(19) if i not in (9, 14, 16)]
    keep13 = [i for i in keep16 if i not in (3, 4, 5)]
    assert m['mIoU16'] == pytest.approx(np.nanmean(iou[keep16]), abs=0.02)
    assert m['mIoU13'] == pytest.approx(np.nanmean(iou[keep13]), abs=0.02)


def test_bad_input_is_named():
    metric = BDLIoUMetric(num_classes=4)
    with pytest.raises(ValueError, match='a.png.*differ in size'):
        metric.process({}, [sample([[0, 1]], [[0]], 'a.png')])
    with pytest.raises(ValueError, match=r'b.png.*\[7\]'):
        metric.process({}, [sample([[7, 1]], [[0, 1]], 'b.png')])
    with pytest.raises(ValueError, match='outside'):
        BDLIoUMetric(num_classes=19,
                     class_subsets=dict(x=[30])).compute_metrics(
            [np.zeros((19, 19), np.int64)])


def test_is_mmseg_iou_metric_and_other_means_match_it():
    # the subclass reports MMSegmentation's options from the same matrix
    assert issubclass(BDLIoUMetric, IoUMetric)
    classes = ('a', 'b', 'c', 'd')
    pairs = [A, B]
    m = run(BDLIoUMetric(iou_metrics=['mIoU', 'mDice', 'mFscore']), pairs,
            classes)
    ref = IoUMetric(iou_metrics=['mIoU', 'mDice', 'mFscore'])
    ref.dataset_meta = dict(classes=classes)
    ref.process({}, [sample(lbl, prd) for lbl, prd in pairs])
    expected = ref.evaluate(2)
    for key in ('aAcc', 'mIoU', 'mAcc', 'mDice', 'mFscore', 'mPrecision',
                'mRecall'):
        assert m[key] == pytest.approx(float(expected[key]), abs=0.01), key
    # Dice by hand from conf [[2,1,0,0],[0,3,0,0],[1,0,1,0],[1,0,0,0]]:
    # 2 * diag / (row + col)
    assert m['mDice'] == pytest.approx(
        100 * (4 / 7 + 6 / 7 + 2 / 3 + 0) / 4, abs=0.005)


def test_nan_to_num_feeds_the_subsets():
    # class 3 is neither present nor predicted: NaN, or 0 with nan_to_num
    m = run(BDLIoUMetric(class_subsets=dict(s=[2, 3])), [A], 'abcd')
    assert m['s'] == 50.0
    m = run(BDLIoUMetric(class_subsets=dict(s=[2, 3]), nan_to_num=0), [A],
            'abcd')
    assert m['IoU.d'] == 0.0 and m['s'] == 25.0
    assert m['mIoU'] == round(100 * (0.5 + 2 / 3 + 0.5) / 4, 2)


def test_miou_is_always_reported():
    m = run(BDLIoUMetric(iou_metrics='mDice'), [A], 'abcd')
    assert 'mIoU' in m and 'mDice' in m and 'IoU.a' in m


def test_bad_options_are_refused(tmp_path):
    with pytest.raises(ValueError, match='mBoundary'):
        BDLIoUMetric(iou_metrics=['mBoundary'])
    with pytest.raises(ValueError, match='needs output_dir'):
        BDLIoUMetric(format_only=True)
    with pytest.raises(ValueError, match='output_format'):
        BDLIoUMetric(output_dir=str(tmp_path / 'o'), output_format='rgb')
    # an option it does not have is an error, not silently swallowed
    with pytest.raises(TypeError):
        BDLIoUMetric(keep_result=True)
