"""Rare-class sampling of UDADataset: distribution, candidates, errors."""
import os

import numpy as np
import pytest
from data_fixtures import write_cityscapes, write_gta5

from mmbdl.datasets.converters import convert_cityscapes, convert_gta5
from mmbdl.datasets.data_checks import DataCheckError
from mmbdl.datasets.rare_class_sampling import rcs_class_probs
from mmbdl.registry import DATASETS

SRC_PIPE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
            dict(type='PackSegInputs')]
TGT_PIPE = [dict(type='LoadImageFromFile'), dict(type='PackSegInputs')]
ROAD, PERSON, CAR = 7, 24, 26  # Cityscapes ids -> train ids 0, 11, 13
# pixels per image (10x10): road / person / car
TOY = [dict(road=90, car=10), dict(road=100), dict(road=80, person=20),
       dict(road=95, car=5)]


def _label(i):
    ids = np.full(100, ROAD, dtype=np.uint8)
    pos = TOY[i].get('road', 0)
    for name, cid in (('person', PERSON), ('car', CAR)):
        n = TOY[i].get(name, 0)
        ids[pos:pos + n] = cid
        pos += n
    return ids.reshape(10, 10)


@pytest.fixture(scope='module')
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp('rcs')
    src = write_gta5(str(base / 'gta5'), n=len(TOY), label=_label)
    convert_gta5(src, progress=False)
    tgt = write_cityscapes(str(base / 'cs'), splits=('train', ), n=2)
    convert_cityscapes(tgt, splits=('train', ), progress=False)
    return src, tgt


def build(roots, **rcs):
    src, tgt = roots
    return DATASETS.build(dict(
        type='UDADataset',
        source=dict(type='GTA5Dataset', data_root=src, pipeline=SRC_PIPE,
                    serialize_data=False),
        target=dict(type='CityscapesDataset', data_root=tgt,
                    data_prefix=dict(img_path='leftImg8bit/train'),
                    pipeline=TGT_PIPE, serialize_data=False),
        seed=0, rare_class_sampling=rcs))


def expected_probs(temperature):
    totals = np.array([365, 20, 15], dtype=float)  # road, person, car
    logits = (1 - totals / totals.sum()) / temperature
    p = np.exp(logits - logits.max())
    return p / p.sum()


def test_probs_formula():
    classes, probs = rcs_class_probs({0: 365, 13: 15, 11: 20, 5: 0}, 0.1)
    assert classes == [0, 11, 13]
    np.testing.assert_allclose(probs, expected_probs(0.1), rtol=1e-12)
    # a rarer class always gets a higher probability
    assert probs[0] < probs[1] < probs[2]
    with pytest.raises(ValueError, match='temperature'):
        rcs_class_probs({0: 1}, 0.0)


@pytest.mark.parametrize('temperature', [0.05, 0.5])
def test_empirical_distribution_matches_expected(roots, temperature):
    ds = build(roots, temperature=temperature, min_pixels=5)
    assert ds.rcs.classes == [0, 11, 13]
    np.testing.assert_allclose(ds.rcs.probs, expected_probs(temperature))
    n = 20000
    draws = [ds._rcs_draw() for _ in range(n)]
    classes = np.array([c for c, _ in draws])
    for cls, p in zip(ds.rcs.classes, ds.rcs.probs):
        emp = (classes == cls).mean()
        sigma = np.sqrt(p * (1 - p) / n)
        print(f'T={temperature} class {cls}: expected {p:.4f}, '
              f'empirical {emp:.4f} ({n} draws)')
        assert abs(emp - p) < 5 * sigma + 1e-9, (cls, emp, p)
    # within a class, the images holding >= min_pixels of it, uniformly
    idx = {c: np.array([i for k, i in draws if k == c]) for c in (0, 11, 13)}
    assert set(idx[11]) == {2}
    assert set(idx[13]) == {0, 3}
    if len(idx[0]) > 1000:  # road is rarely drawn at a low temperature
        road = np.bincount(idx[0], minlength=4) / len(idx[0])
        np.testing.assert_allclose(road, 0.25, atol=5 * np.sqrt(
            0.25 * 0.75 / len(idx[0])))
    else:
        assert temperature < 0.1


def test_min_pixels_selects_candidates(roots):
    ds = build(roots, temperature=0.5, min_pixels=6)
    # image 3 holds only 5 car pixels: not a candidate for car
    assert list(ds.rcs.candidates[13]) == [0]
    ds = build(roots, temperature=0.5, min_pixels=15)
    # no image holds 15 car pixels: car cannot be drawn
    assert ds.rcs.classes == [0, 11] and ds.rcs.dropped_classes == [13]


def test_getitem_returns_an_image_with_the_drawn_class(roots):
    ds = build(roots, temperature=0.01, min_pixels=5)
    seen = set()
    for _ in range(30):
        item = ds[0]
        sample = item['data_samples']['source']
        cls = sample.metainfo['rcs_class']
        seen.add(cls)
        assert int((sample.gt_sem_seg.data == cls).sum()) >= 5
    assert {11, 13} <= seen


def test_missing_stats_file_names_the_converter(roots, tmp_path):
    src, _ = roots
    os.rename(os.path.join(src, 'sample_class_stats.json'),
              str(tmp_path / 'stats.json'))
    try:
        with pytest.raises(DataCheckError) as err:
            build(roots)
        msg = str(err.value)
        assert 'sample_class_stats.json' in msg
        assert f'python tools/dataset_converters/gta5.py {src}' in msg
        # an explicit stats_file is used instead
        ds = build(roots, stats_file=str(tmp_path / 'stats.json'),
                   min_pixels=5)
        assert ds.rcs.classes == [0, 11, 13]
    finally:
        os.rename(str(tmp_path / 'stats.json'),
                  os.path.join(src, 'sample_class_stats.json'))


def test_unknown_key_is_refused(roots):
    with pytest.raises(ValueError, match='temprature'):
        build(roots, temprature=0.1)


def test_crop_without_the_class_is_redrawn(roots):
    """A crop keeping < min_pixels * min_crop_ratio pixels of the drawn
    class is loaded again from the same image, at most 10 times."""
    import torch
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    ds = build(roots, temperature=0.01, min_pixels=5, min_crop_ratio=0.5)
    calls = []

    def fake_pipeline(info, good_after):
        calls.append(info['img_path'])
        sample = SegDataSample()
        label = torch.zeros(1, 4, 4, dtype=torch.long)
        if len(calls) > good_after:
            label[0, :2, :2] = 13  # 4 car pixels > 5 * 0.5
        sample.gt_sem_seg = PixelData(data=label)
        return dict(inputs=torch.zeros(3, 4, 4), data_samples=sample)

    info = ds.source.get_data_info(0)
    ds.source.pipeline = lambda i: fake_pipeline(i, 3)
    out = ds._rcs_recrop(ds.source.pipeline(info), info, 13)
    assert len(calls) == 4 and len(set(calls)) == 1
    assert int((out['data_samples'].gt_sem_seg.data == 13).sum()) == 4
    calls.clear()
    ds.source.pipeline = lambda i: fake_pipeline(i, 99)
    ds._rcs_recrop(ds.source.pipeline(info), info, 13)
    assert len(calls) == 10
