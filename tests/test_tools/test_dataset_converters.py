"""Label converters on tiny files in the real encodings of each data set."""
import glob
import importlib.util
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from data_fixtures import (CS_TRAIN, SYN_TRAIN, save_palette_label,
                           write_cityscapes, write_gta5, write_synthia)
from PIL import Image

from mmbdl.datasets import converters
from mmbdl.datasets.converters import (ConversionError, convert_cityscapes,
                                       convert_gta5, convert_synthia)
from mmbdl.datasets.data_checks import DataCheckError
from mmbdl.utils.config_utils import run_cli

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def read(path):
    return np.array(Image.open(path))


def no_temp_files(root):
    return not [p for p in glob.glob(osp.join(root, '**', '.*'),
                                     recursive=True) if p.endswith('.tmp')]


def test_gta5_palette_ids_to_train_ids(tmp_path):
    root = write_gta5(str(tmp_path / 'gta5'), n=2)
    # OpenCV would return palette colours, not ids: the converter must not
    raw = osp.join(root, 'labels', '00000.png')
    assert not np.array_equal(cv2.imread(raw, cv2.IMREAD_GRAYSCALE)[:1, :3],
                              np.array([[7, 8, 11]]))
    stats = convert_gta5(root, progress=False)
    out = read(osp.join(root, 'labels', '00000_labelTrainIds.png'))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, CS_TRAIN)
    assert stats['num_images'] == 2 and stats['num_converted'] == 2
    saved = json.load(open(osp.join(root, 'sample_class_stats.json')))
    counts = saved['images']['labels/00000_labelTrainIds.png']['counts']
    assert counts == {'0': 3, '1': 1, '2': 1, '8': 1, '10': 1, '11': 1,
                      '13': 1, '18': 1, '255': 2}
    assert saved['class_pixels']['0'] == 6
    assert saved['ignored_pixels'] == 4
    assert no_temp_files(root)


def test_synthia_16bit_class_in_last_opencv_channel(tmp_path):
    root = write_synthia(str(tmp_path / 'synthia'), n=2)
    raw = osp.join(root, 'GT', 'LABELS', '0000000.png')
    # PIL and OpenCV's default mode do not give the class ids
    assert not np.array_equal(
        cv2.imread(raw)[..., -1].astype(np.int64)[:1, :3], [[3, 4, 2]])
    convert_synthia(root, progress=False)
    out = read(osp.join(root, 'GT', 'LABELS', '0000000_labelTrainIds.png'))
    np.testing.assert_array_equal(out, SYN_TRAIN)
    stats = json.load(open(osp.join(root, 'sample_class_stats.json')))
    for absent in ('14', '16'):  # truck, train never occur
        assert stats['class_pixels'][absent] == 0


def test_cityscapes_label_ids_to_train_ids(tmp_path):
    root = write_cityscapes(str(tmp_path / 'cs'), n=2)
    stats = convert_cityscapes(root, progress=False)
    for split in ('train', 'val'):
        out = read(osp.join(root, 'gtFine', split, 'aachen',
                            'aachen_000000_000001_gtFine_labelTrainIds.png'))
        np.testing.assert_array_equal(out, CS_TRAIN)
    assert stats['num_images'] == 4
    assert 'gtFine/val/aachen/aachen_000000_000000_gtFine_labelTrainIds.png' \
        in stats['images']


def test_resume_skips_valid_and_redoes_broken_outputs(tmp_path):
    root = write_gta5(str(tmp_path / 'gta5'), n=3)
    convert_gta5(root, progress=False)
    broken = osp.join(root, 'labels', '00001_labelTrainIds.png')
    with open(broken, 'wb') as f:
        f.write(b'\x89PNG half written')
    stats = convert_gta5(root, progress=False)
    assert stats['num_converted'] == 1  # only the broken one
    np.testing.assert_array_equal(read(broken), CS_TRAIN)
    # class statistics cover skipped files too
    assert len(stats['images']) == 3


def test_unknown_ids_are_listed_not_dropped(tmp_path):
    root = write_gta5(str(tmp_path / 'gta5'), n=2)
    bad = np.array([[7, 50], [99, 8]], dtype=np.uint8)
    save_palette_label(bad, osp.join(root, 'labels', '00001.png'))
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(
        osp.join(root, 'images', '00001.png'))
    with pytest.raises(ConversionError, match=r'00001.*\[50, 99\]'):
        convert_gta5(root, progress=False)
    # the bad label was not written, the good one was; no stats yet
    assert not osp.exists(osp.join(root, 'labels', '00001_labelTrainIds.png'))
    assert osp.exists(osp.join(root, 'labels', '00000_labelTrainIds.png'))
    assert not osp.exists(osp.join(root, 'sample_class_stats.json'))
    stats = convert_gta5(root, on_unknown='ignore', progress=False)
    np.testing.assert_array_equal(
        read(osp.join(root, 'labels', '00001_labelTrainIds.png')),
        [[0, 255], [255, 1]])
    assert stats['unknown_ids'] == {
        'labels/00001_labelTrainIds.png': [50, 99]}


def test_corrupt_png_is_named(tmp_path):
    root = write_cityscapes(str(tmp_path / 'cs'), splits=('train', ), n=2)
    lbl = osp.join(root, 'gtFine', 'train', 'aachen',
                   'aachen_000000_000001_gtFine_labelIds.png')
    with open(lbl, 'wb') as f:
        f.write(b'not a png')
    with pytest.raises(ConversionError,
                       match='aachen_000000_000001_gtFine_labelIds.png'):
        convert_cityscapes(root, splits=('train', ), progress=False)


def test_wrong_encoding_is_refused(tmp_path):
    root = write_synthia(str(tmp_path / 'synthia'), n=1)
    # an 8-bit label where SYNTHIA's 16-bit 3-channel one is expected
    Image.fromarray(np.zeros((3, 4), np.uint8)).save(
        osp.join(root, 'GT', 'LABELS', '0000000.png'))
    with pytest.raises(ConversionError, match='16-bit 3-channel'):
        convert_synthia(root, progress=False)


def test_unpaired_files_and_missing_root(tmp_path):
    root = write_gta5(str(tmp_path / 'gta5'), n=2)
    os.remove(osp.join(root, 'labels', '00001.png'))
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(
        osp.join(root, 'labels', '00007.png'))
    with pytest.raises(DataCheckError) as err:
        convert_gta5(root, progress=False)
    assert '00001' in str(err.value) and '00007' in str(err.value)
    with pytest.raises(FileNotFoundError, match='nowhere'):
        convert_gta5(str(tmp_path / 'nowhere'), progress=False)
    os.makedirs(tmp_path / 'empty' / 'images')
    os.makedirs(tmp_path / 'empty' / 'labels')
    with pytest.raises(DataCheckError, match='no images'):
        convert_gta5(str(tmp_path / 'empty'), progress=False)


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    root = write_gta5(str(tmp_path / 'gta5'), n=1)

    def crash(self, fp, *args, **kwargs):
        fp.write(b'\x89PNG partial')
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, 'save', crash)
    with pytest.raises(KeyboardInterrupt):
        convert_gta5(root, progress=False)
    monkeypatch.undo()
    assert not osp.exists(osp.join(root, 'labels', '00000_labelTrainIds.png'))
    assert no_temp_files(root)


def test_multiprocess_matches_single_process(tmp_path):
    a = write_cityscapes(str(tmp_path / 'a'), splits=('train', ), n=4)
    b = write_cityscapes(str(tmp_path / 'b'), splits=('train', ), n=4)
    sa = convert_cityscapes(a, splits=('train', ), nproc=1, progress=False)
    sb = convert_cityscapes(b, splits=('train', ), nproc=2, progress=False)
    assert sa['images'] == sb['images']


def _load_tool(name):
    path = osp.join(REPO, 'tools', 'dataset_converters', name + '.py')
    spec = importlib.util.spec_from_file_location(f'_conv_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('name', ['gta5', 'synthia', 'cityscapes'])
def test_cli_runs_and_reports_errors(tmp_path, capsys, name):
    writer = dict(gta5=write_gta5, synthia=write_synthia,
                  cityscapes=write_cityscapes)[name]
    root = writer(str(tmp_path / name))
    tool = _load_tool(name)
    tool.main([root, '--nproc', '1'])
    assert 'class statistics' in capsys.readouterr().out
    assert osp.exists(osp.join(root, converters.STATS_FILE))
    with pytest.raises(SystemExit) as code:
        run_cli(lambda: tool.main([str(tmp_path / 'missing')]))
    assert code.value.code == 2
    err = capsys.readouterr().err
    assert 'missing' in err and 'does not exist' in err
