"""The data scan finds each data fault before the first iteration."""
import glob
import os.path as osp
import shutil
import subprocess
import sys

import numpy as np
import pytest
from data_fixtures import subprocess_env, write_small_demo
from PIL import Image

from mmbdl.datasets.data_scan import (DataScanError, check_item, scan_config,
                                      scan_items)
from mmbdl.utils import load_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(REPO, 'configs', 'bdl', 'bdl_demo.py')


@pytest.fixture(scope='module')
def clean_demo(tmp_path_factory):
    return write_small_demo(tmp_path_factory.mktemp('scan'), 4, 3, 2)


@pytest.fixture
def demo(clean_demo, tmp_path, monkeypatch):
    shutil.copytree(clean_demo / 'data', tmp_path / 'data')
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _files(root, pattern):
    return sorted(glob.glob(str(root / 'data' / 'demo' / pattern),
                            recursive=True))


def _truncate(path):
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])


def _scan(root):
    return scan_config(load_config(DEMO), str(root / 'work'), workers=1)


def test_clean_demo_passes_with_counts(demo):
    result = _scan(demo)
    assert result['files'] == 4 + 3 + 2
    assert result['sets'] == {'train source': 4, 'train target': 3,
                              'val': 2}


@pytest.mark.parametrize('pattern', [
    'cityscapes/leftImg8bit/train/**/*.png',  # target train image
    'gta5/images/*.png',  # source image
    'gta5/labels/*_labelTrainIds.png',  # source label
])
def test_truncated_file_is_found(demo, pattern):
    bad = _files(demo, pattern)[0]
    _truncate(bad)
    with pytest.raises(DataScanError) as err:
        _scan(demo)
    msg = str(err.value)
    assert msg.startswith('data scan: 1 of 9 files cannot be used: ')
    assert f'{bad}: ' in msg and 'cannot be decoded' in msg
    assert '--skip-data-scan' in msg


def test_many_truncated_sources_are_listed_up_to_the_limit(demo):
    for path in _files(demo, 'gta5/images/*.png'):
        _truncate(path)
    with pytest.raises(DataScanError) as err:
        scan_config(load_config(DEMO), str(demo / 'work'), workers=1,
                    max_listed=2)
    assert str(err.value).startswith('data scan: 4 of 9 files')
    assert '... and 2 more' in str(err.value)


def test_val_label_of_another_size_is_found(demo):
    label = _files(demo, 'cityscapes/gtFine/val/**/*labelTrainIds.png')[0]
    Image.fromarray(np.zeros((32, 64), np.uint8)).save(label)
    with pytest.raises(DataScanError, match='label size 64x32 differs from '
                       'its image'):
        _scan(demo)


def test_label_ids_outside_the_map_are_found(demo):
    label = _files(demo, 'cityscapes/gtFine/val/**/*labelTrainIds.png')[0]
    ids = np.array(Image.open(label))
    ids[0, :3] = 40
    Image.fromarray(ids).save(label)
    with pytest.raises(DataScanError, match=r'class ids \[40\] are outside '
                       r'0..18 and 255'):
        _scan(demo)


def test_existing_pseudo_labels_and_translations_are_scanned(demo):
    work = demo / 'work'
    (work / 'pseudo_labels' / 'k1_i1').mkdir(parents=True)
    (work / 'translated' / 'k1').mkdir(parents=True)
    Image.fromarray(np.full((8, 8), 30, np.uint8)).save(
        work / 'pseudo_labels' / 'k1_i1' / 'a.png')
    (work / 'translated' / 'k1' / 'b.png').write_bytes(b'\x89PNG broken')
    with pytest.raises(DataScanError) as err:
        _scan(demo)
    assert 'a.png: class ids [30]' in str(err.value)
    assert 'b.png: image cannot be decoded' in str(err.value)


def test_parallel_workers_give_the_same_verdicts(tmp_path):
    items = []
    for i in range(70):
        path = tmp_path / f'{i}.png'
        Image.fromarray(np.full((4, 4), i % 3, np.uint8)).save(path)
        items.append(('set', str(path), str(path), 3, 255, None, False,
                      True))
    _truncate(str(tmp_path / '5.png'))
    with pytest.raises(DataScanError, match=r'1 of 70 files .*5\.png'):
        scan_items(items, workers=2)
    assert check_item(items[6]) is None


def test_train_py_refuses_before_the_first_iteration(demo):
    bad = _files(demo, 'gta5/images/*.png')[1]
    _truncate(bad)
    work = demo / 'work'
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'train.py'), DEMO,
         '--work-dir', str(work)], cwd=str(demo), env=subprocess_env(),
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith('error: data scan: 1 of 9 files cannot be used: '
                           f'{bad}: image cannot be decoded')
    assert not glob.glob(str(work / '*.pth'))
    log = open(glob.glob(str(work / '*' / '*.log'))[0]).read()
    assert 'Iter(train)' not in log
