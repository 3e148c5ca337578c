"""Header checks of a data set are cached by the files' fingerprint: a
rebuild of an unchanged data set (every BDL phase rebuilds its data sets)
opens no file; any change to the files checks them again."""
import os
import os.path as osp

import numpy as np
import pytest
from data_fixtures import write_gta5
from PIL import Image

from mmbdl.datasets import GTA5Dataset, data_checks
from mmbdl.datasets.converters import convert_gta5
from mmbdl.datasets.data_checks import DataCheckError

PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
            dict(type='PackSegInputs')]
FAST = dict(serialize_data=False)


@pytest.fixture
def counted(monkeypatch):
    """Counts header reads; starts from an empty cache."""
    data_checks.clear_size_cache()
    calls = []
    original = data_checks.read_size

    def read_size(path):
        calls.append(path)
        return original(path)

    monkeypatch.setattr(data_checks, 'read_size', read_size)
    yield calls
    data_checks.clear_size_cache()


def test_rebuild_of_unchanged_set_reads_no_header(tmp_path, counted):
    root = write_gta5(str(tmp_path / 'gta5'), n=3)
    convert_gta5(root, progress=False)
    first = GTA5Dataset(data_root=root, pipeline=PIPELINE, **FAST)
    assert len(counted) == 6  # 3 images + 3 labels
    second = GTA5Dataset(data_root=root, pipeline=PIPELINE, **FAST)
    assert len(counted) == 6  # served from the cache
    assert [first.get_data_info(i)['img_path'] for i in range(3)] == [
        second.get_data_info(i)['img_path'] for i in range(3)]


def test_changed_file_is_checked_again(tmp_path, counted):
    root = write_gta5(str(tmp_path / 'gta5'), n=3)
    convert_gta5(root, progress=False)
    GTA5Dataset(data_root=root, pipeline=PIPELINE, **FAST)
    bad = osp.join(root, 'images', '00002.png')
    with open(bad, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n garbage')
    with pytest.raises(DataCheckError, match='00002.png'):
        GTA5Dataset(data_root=root, pipeline=PIPELINE, **FAST)
    assert len(counted) == 12
    # failures are not cached: a repaired file passes on the next build
    Image.fromarray(np.zeros((3, 4, 3), np.uint8)).save(bad)
    assert len(GTA5Dataset(data_root=root, pipeline=PIPELINE, **FAST)) == 3
    assert len(counted) == 18


def test_fingerprint_sees_added_removed_and_rewritten_files(tmp_path):
    paths = []
    for i in range(3):
        path = str(tmp_path / f'{i}.bin')
        with open(path, 'wb') as f:
            f.write(b'x' * (i + 1))
        paths.append(path)
    base = data_checks.fingerprint(paths)
    assert data_checks.fingerprint(paths) == base
    assert data_checks.fingerprint(paths[:2]) != base
    with open(paths[0], 'wb') as f:
        f.write(b'yy')
    assert data_checks.fingerprint(paths) != base
    os.remove(paths[1])
    assert data_checks.fingerprint(paths) not in (base, )
