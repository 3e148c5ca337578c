"""Demo data checksums: the same bits on both stacks, version 2 unchanged.

The constants were drawn on the pinned stack (numpy 1.26, OpenCV 4.11) and
match the current stack (numpy 2.5, OpenCV 5.1); the test runs on both
(``make test-subset``). Version 2's constants were drawn by the code
before version 3 existed (which had no ``version`` argument), so they also
check that ``version=2`` still draws the old data byte for byte. Version 2
renders with OpenCV, whose floats differ in the last bits between 4 and 5;
on these arguments (and on the whole default set) the written values agree
all the same. Version 3 uses numpy operations that round alike everywhere.

The digest covers the decoded pixels of every written PNG (images, label
ids, converted train ids) with its path and shape, not the PNG bytes, which
depend on the zlib build.
"""
import hashlib
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmbdl.datasets.demo import draw_sample, make_demo_data

TINY = dict(num_source=3, num_target_train=2, num_target_val=2,
            size=(64, 32), seed=0)
SAMPLES = (('source', 0), ('source', 1), ('target', 100000),
           ('target', 200001))
TREE_SHA256 = {
    2: 'e3b56248fa80732a5d1a07f366d415955c93742e319d3f51591f9fdaf9b64ada',
    3: 'b41e8c75509cf5b570bb9592ed707f923873ebfdfb693eb2cd5127646c044469',
}
SAMPLES_SHA256 = {
    2: 'ea16cadc72c97a60f8aa5c8340219b4e539f0713ffd2e39c4c8acbce7afd802c',
    3: '46194d116a073ae2b48118c7bbf011aa7ced294031516f173e3196a3d80680df',
}


def tree_digest(root: str):
    """sha256 over the decoded PNGs below ``root`` and their count."""
    paths = []
    for folder, _, files in os.walk(root):
        paths += [
            osp.relpath(osp.join(folder, f), root).replace(os.sep, '/')
            for f in files if f.endswith('.png')
        ]
    digest = hashlib.sha256()
    for rel in sorted(paths):
        arr = np.array(Image.open(osp.join(root, rel)))
        digest.update(rel.encode())
        digest.update(repr(arr.shape).encode())
        digest.update(arr.tobytes())
    return digest.hexdigest(), len(paths)


@pytest.mark.parametrize('version', [2, 3])
def test_written_set_checksum(tmp_path, version):
    out = str(tmp_path / 'demo')
    summary = make_demo_data(out, version=version, **TINY)
    assert summary['version'] == version
    # 3 source (image, ids, train ids) + 4 target (the same) = 21 PNGs
    assert tree_digest(out) == (TREE_SHA256[version], 21)


@pytest.mark.parametrize('version', [2, 3])
def test_demo_size_samples_checksum(version):
    digest = hashlib.sha256()
    for domain, index in SAMPLES:
        img, ids = draw_sample(0, index, domain, 128, 64, version)
        assert img.shape == (64, 128, 3) and ids.shape == (64, 128)
        digest.update(img.tobytes())
        digest.update(ids.tobytes())
    assert digest.hexdigest() == SAMPLES_SHA256[version]
