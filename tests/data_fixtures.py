"""Writers of tiny data sets in the real on-disk encodings (for tests).

- GTA5: ``images/NNNNN.png`` RGB, ``labels/NNNNN.png`` palette-mode PNGs
  whose pixel values are Cityscapes label ids.
- SYNTHIA-RAND-CITYSCAPES: ``RGB/NNNNNNN.png``, ``GT/LABELS/NNNNNNN.png``
  16-bit 3-channel PNGs with the class id in the R channel (the channel
  OpenCV returns last) and an instance id in G.
- Cityscapes: ``leftImg8bit/{split}/{city}/*_leftImg8bit.png`` and 8-bit
  ``gtFine/{split}/{city}/*_gtFine_labelIds.png``.
"""
import os
import os.path as osp
from typing import Callable, Optional, Sequence

import cv2
import numpy as np
from PIL import Image

# a label in Cityscapes ids covering mapped ids, void ids and id 33
CS_IDS = np.array([[7, 8, 11, 0], [26, 24, 23, 33], [21, 1, 7, 7]],
                  dtype=np.uint8)
CS_TRAIN = np.array([[0, 1, 2, 255], [13, 11, 10, 18], [8, 255, 0, 0]],
                    dtype=np.uint8)
# SYNTHIA ids: road, sidewalk, building, wall / terrain, void, lane marking,
# sky / car, pedestrian, bicycle, parking slot
SYN_IDS = np.array([[3, 4, 2, 21], [16, 0, 22, 1], [8, 10, 11, 13]],
                   dtype=np.uint16)
SYN_TRAIN = np.array([[0, 1, 2, 3], [9, 255, 255, 10], [13, 11, 18, 255]],
                     dtype=np.uint8)


def _palette() -> list:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=768).tolist()


def rgb(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(
        0, 256, size=(h, w, 3), dtype=np.uint8)


def save_palette_label(ids: np.ndarray, path: str) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    img = Image.fromarray(ids.astype(np.uint8), mode='P')
    img.putpalette(_palette())
    img.save(path)


def save_synthia_label(ids: np.ndarray, path: str) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    arr = np.zeros(ids.shape + (3, ), dtype=np.uint16)
    arr[..., 2] = ids  # cv2 writes BGR: channel 2 is R in the file
    arr[..., 1] = 1000 + np.arange(ids.size).reshape(ids.shape)  # instances
    assert cv2.imwrite(path, arr)


def save_rgb(img: np.ndarray, path: str) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(img).save(path)


def write_gta5(root: str, n: int = 3,
               label: Optional[Callable[[int], np.ndarray]] = None) -> str:
    for i in range(n):
        ids = CS_IDS if label is None else label(i)
        h, w = ids.shape
        save_rgb(rgb(h, w, i), osp.join(root, 'images', f'{i:05d}.png'))
        save_palette_label(ids, osp.join(root, 'labels', f'{i:05d}.png'))
    return root


def write_synthia(root: str, n: int = 3) -> str:
    for i in range(n):
        h, w = SYN_IDS.shape
        save_rgb(rgb(h, w, i), osp.join(root, 'RGB', f'{i:07d}.png'))
        save_synthia_label(SYN_IDS,
                           osp.join(root, 'GT', 'LABELS', f'{i:07d}.png'))
    return root


def cityscapes_stem(city: str, i: int) -> str:
    return f'{city}_000000_{i:06d}'


def write_cityscapes(root: str, splits: Sequence[str] = ('train', 'val'),
                     n: int = 2, city: str = 'aachen',
                     size: Optional[Sequence[int]] = None) -> str:
    for split in splits:
        for i in range(n):
            stem = cityscapes_stem(city, i)
            ids = CS_IDS if size is None else np.resize(CS_IDS, size)
            h, w = ids.shape
            save_rgb(rgb(h, w, i + 7), osp.join(
                root, 'leftImg8bit', split, city,
                stem + '_leftImg8bit.png'))
            lbl = osp.join(root, 'gtFine', split, city,
                           stem + '_gtFine_labelIds.png')
            os.makedirs(osp.dirname(lbl), exist_ok=True)
            Image.fromarray(ids, mode='L').save(lbl)
    return root


def write_train_ids(img_paths, label_for, array: np.ndarray) -> None:
    """Write train-id labels directly (when the converter is not the
    subject of a test)."""
    for p in img_paths:
        path = label_for(p)
        os.makedirs(osp.dirname(path), exist_ok=True)
        Image.fromarray(array).save(path)


def subprocess_env() -> dict:
    """The environment of a tool run as a subprocess: one thread, the
    repository on ``PYTHONPATH``."""
    repo = osp.dirname(osp.dirname(osp.abspath(__file__)))
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (repo, env.get('PYTHONPATH')) if p)
    return env


def write_small_demo(root: str, num_source: int, num_target_train: int,
                     num_target_val: int) -> str:
    """A small demo data set in ``<root>/data/demo`` (the layout the demo
    configs read, relative to ``root``), drawn in this process.

    Returns:
        str: ``root``.
    """
    from mmbdl.datasets.demo import make_demo_data
    make_demo_data(osp.join(str(root), 'data', 'demo'),
                   num_source=num_source, num_target_train=num_target_train,
                   num_target_val=num_target_val)
    return root
