"""BDLIoUMetric's output_dir / format_only: one PNG per image."""
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from PIL import Image

from mmbdl.datasets.label_maps import CITYSCAPES_ID_TO_TRAINID
from mmbdl.evaluation import BDLIoUMetric, PredictionWriter

CLASSES = tuple(f'c{i}' for i in range(19))


def sample(pred, label=None, path='a/x_leftImg8bit.png'):
    s = SegDataSample(pred_sem_seg=PixelData(data=torch.tensor(pred)[None]))
    if label is not None:
        s.gt_sem_seg = PixelData(data=torch.tensor(label)[None])
    s.set_metainfo(dict(img_path=path))
    return s.to_dict()


PRED = [[0, 1, 18], [13, 10, 2]]


def test_train_ids_written_and_metrics_still_computed(tmp_path):
    out = tmp_path / 'preds'
    metric = BDLIoUMetric(output_dir=str(out))
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, [sample(PRED, PRED, 'a/x.png'),
                        sample(PRED, PRED, 'b/y.jpg')])
    m = metric.evaluate(2)
    assert m['mIoU'] == 100.0
    assert sorted(p.name for p in out.iterdir()) == ['x.png', 'y.png']
    np.testing.assert_array_equal(np.array(Image.open(out / 'x.png')), PRED)


def test_format_only_writes_cityscapes_label_ids_without_labels(tmp_path):
    out = tmp_path / 'server'
    metric = BDLIoUMetric(output_dir=str(out), format_only=True,
                          output_format='cityscapes_label_ids')
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, [sample(PRED)])  # no ground truth at all
    assert metric.evaluate(1) == {}
    written = np.array(Image.open(out / 'x_leftImg8bit.png'))
    # road 7, sidewalk 8, bicycle 33 / car 26, sky 23, building 11
    np.testing.assert_array_equal(written, [[7, 8, 33], [26, 23, 11]])
    inverse = {t: i for i, t in CITYSCAPES_ID_TO_TRAINID.items()}
    np.testing.assert_array_equal(
        written, np.vectorize(inverse.get)(np.array(PRED)))


def test_writer_refuses_name_clashes_and_foreign_ids(tmp_path):
    writer = PredictionWriter(str(tmp_path), 'cityscapes_label_ids')
    writer.write(np.zeros((2, 2)), 'a/x.png')
    writer.write(np.zeros((2, 2)), 'a/x.png')  # the same image again: fine
    with pytest.raises(ValueError, match='a/x.png and b/x.png'):
        writer.write(np.zeros((2, 2)), 'b/x.png')
    with pytest.raises(ValueError, match=r'\[19\]'):
        writer.write(np.full((2, 2), 19), 'c.png')
    # nothing half-written is left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ['x.png']


def test_reduce_zero_label_shifts_back(tmp_path):
    writer = PredictionWriter(str(tmp_path))
    path = writer.write(torch.tensor([[0, 4]]), 'img.jpg',
                        reduce_zero_label=True)
    np.testing.assert_array_equal(np.array(Image.open(path)), [[1, 5]])
