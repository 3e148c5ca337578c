"""Label converters of GTA5, SYNTHIA-RAND-CITYSCAPES and Cityscapes.

Each converter reads the labels exactly as the data set is distributed,
writes uint8 train-id PNGs (255 = ignore) next to them and a JSON file of
per-image class pixel counts, ``<data_root>/sample_class_stats.json``. Work
is spread over processes with ``mmengine.track_parallel_progress``; a label
that already has a valid converted file is not converted again (resume), and
every PNG is written to a temporary name in its folder and renamed into
place, so an interrupted run never leaves a half-written label. Ids outside
the data set's id table are listed per file; by default the run then fails
without writing those files (``on_unknown='ignore'`` maps them to 255).
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine.logging import print_log
from mmengine.utils import track_parallel_progress, track_progress
from PIL import Image

from mmbdl.utils.atomic_write import atomic_open
from mmbdl.utils.errors import ConfigCheckError, MMBDLUserError
from .data_checks import DataCheckError, check_dir, format_names, scan_files
from .label_maps import (CITYSCAPES_CLASSES, CITYSCAPES_ID_TO_TRAINID,
                         CITYSCAPES_KNOWN_IDS, IGNORE_INDEX,
                         SYNTHIA_ID_TO_TRAINID, SYNTHIA_KNOWN_IDS, build_lut)

STATS_FILE = 'sample_class_stats.json'
TRAIN_ID_SUFFIX = '_labelTrainIds.png'
NUM_CLASSES = len(CITYSCAPES_CLASSES)
ON_UNKNOWN = ('error', 'ignore')

# encoding -> (id map, known ids, LUT size)
_ENCODINGS = {
    'cityscapes_ids': (CITYSCAPES_ID_TO_TRAINID, CITYSCAPES_KNOWN_IDS, 256),
    'synthia_16bit': (SYNTHIA_ID_TO_TRAINID, SYNTHIA_KNOWN_IDS, 65536),
}
_LUTS: Dict[str, Tuple[np.ndarray, np.ndarray]] = {}


class ConversionError(MMBDLUserError, RuntimeError):
    """Labels that could not be converted, listed by file."""


def _tables(encoding: str) -> Tuple[np.ndarray, np.ndarray]:
    if encoding not in _LUTS:
        id_map, known, size = _ENCODINGS[encoding]
        known_mask = np.zeros(size, dtype=bool)
        known_mask[list(known)] = True
        _LUTS[encoding] = (build_lut(id_map, size), known_mask)
    return _LUTS[encoding]


def read_label_ids(path: str, encoding: str) -> np.ndarray:
    """Read a distributed label file as an integer id map.

    Args:
        path (str): Label PNG.
        encoding (str): 'cityscapes_ids' (8-bit ids, e.g. Cityscapes
            ``*_labelIds.png`` or GTA5's palette PNGs, read with PIL so that
            palette indices, not colours, are returned) or 'synthia_16bit'
            (16-bit 3-channel PNG; the class is the channel OpenCV returns
            last).

    Returns:
        np.ndarray: HxW integer ids.

    Raises:
        ValueError: If the file cannot be decoded or has another encoding.
    """
    if encoding == 'synthia_16bit':
        arr = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if arr is None:
            raise ConfigCheckError(f'{path}: cannot be decoded (corrupt PNG?)')
        if arr.ndim != 3 or arr.dtype != np.uint16:
            raise ConfigCheckError(
                f'{path}: expected a 16-bit 3-channel SYNTHIA label, got '
                f'shape {arr.shape} dtype {arr.dtype}')
        return arr[:, :, -1]
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode not in ('P', 'L'):
                raise ConfigCheckError(
                    f'mode {img.mode}, expected an 8-bit id '
                    'image (mode P or L)')
            return np.array(img)
    except ValueError as err:
        raise ConfigCheckError(f'{path}: {err}') from None
    except Exception as err:  # noqa: BLE001 (PIL raises many types)
        raise ConfigCheckError(
            f'{path}: cannot be decoded ({type(err).__name__}: '
            f'{err})') from None


def write_png_atomic(array: np.ndarray, path: str) -> None:
    """Write a uint8 array as PNG via a temporary file and ``os.replace``.

    Args:
        array (np.ndarray): HxW (or HxWx3 RGB) uint8 array.
        path (str): Destination.
    """
    with atomic_open(path, 'wb', what='converted label') as f:
        Image.fromarray(array).save(f, format='PNG')


def write_json_atomic(obj, path: str) -> None:
    """Write JSON via a temporary file and ``os.replace``."""
    with atomic_open(path, 'w') as f:
        json.dump(obj, f, indent=1)


def _counts(train_ids: np.ndarray) -> Dict[str, int]:
    hist = np.bincount(train_ids.ravel(), minlength=256)
    out = {str(c): int(hist[c]) for c in range(NUM_CLASSES) if hist[c]}
    if hist[IGNORE_INDEX]:
        out[str(IGNORE_INDEX)] = int(hist[IGNORE_INDEX])
    return out


def _valid_existing(dst: str, shape: Tuple[int, int]) -> Optional[np.ndarray]:
    """The converted label if it exists, decodes and has ``shape``."""
    if not osp.isfile(dst):
        return None
    arr = cv2.imread(dst, cv2.IMREAD_UNCHANGED)
    if arr is None or arr.dtype != np.uint8 or arr.shape != shape:
        return None
    if ((arr >= NUM_CLASSES) & (arr != IGNORE_INDEX)).any():
        return None
    return arr


def _label_shape(src: str) -> Optional[Tuple[int, int]]:
    try:
        with Image.open(src) as img:
            return img.size[1], img.size[0]
    except Exception:  # noqa: BLE001
        return None


def convert_one(task: Tuple[str, str, str, str, str]) -> dict:
    """Convert one label file (the unit of work of the process pool).

    Args:
        task (tuple): ``(src, dst, rel, encoding, on_unknown)``.

    Returns:
        dict: ``rel``, ``counts`` (train id -> pixels), ``shape``,
        ``unknown`` (sorted unknown ids), ``skipped`` (already converted),
        ``error`` (message or None).
    """
    src, dst, rel, encoding, on_unknown = task
    result = dict(rel=rel, counts={}, shape=None, unknown=[], skipped=False,
                  error=None)
    shape = _label_shape(src)
    if shape is not None:
        existing = _valid_existing(dst, shape)
        if existing is not None:
            result.update(counts=_counts(existing), shape=list(shape),
                          skipped=True)
            return result
    try:
        ids = read_label_ids(src, encoding)
    except ValueError as err:
        result['error'] = str(err)
        return result
    lut, known = _tables(encoding)
    ids = ids.astype(np.int64)
    outside = (ids < 0) | (ids >= len(lut))
    ids_in = np.where(outside, 0, ids)
    unknown_mask = outside | ~known[ids_in]
    if unknown_mask.any():
        result['unknown'] = sorted(
            int(v) for v in np.unique(ids[unknown_mask]))
        if on_unknown == 'error':
            return result
    train_ids = lut[ids_in]
    train_ids[unknown_mask] = IGNORE_INDEX
    write_png_atomic(train_ids, dst)
    result.update(counts=_counts(train_ids), shape=list(train_ids.shape))
    return result


def run_conversion(tasks: Sequence[Tuple[str, str, str]],
                   encoding: str,
                   data_root: str,
                   dataset: str,
                   nproc: int = 1,
                   on_unknown: str = 'error',
                   progress: bool = True) -> dict:
    """Convert labels and write ``sample_class_stats.json``.

    Args:
        tasks (Sequence[tuple]): ``(src, dst, rel)`` per label file, ``rel``
            naming the label in the statistics.
        encoding (str): See :func:`read_label_ids`.
        data_root (str): Where the statistics JSON goes.
        dataset (str): Data-set name recorded in the JSON.
        nproc (int): Processes. Defaults to 1.
        on_unknown (str): 'error' (default) or 'ignore'.
        progress (bool): Show a progress bar. Defaults to True.

    Returns:
        dict: The statistics written to the JSON.

    Raises:
        ConversionError: If some labels are unreadable or (with
            ``on_unknown='error'``) hold unknown ids; the other labels are
            converted and the statistics file is not written.
    """
    if on_unknown not in ON_UNKNOWN:
        raise ConfigCheckError(f'on_unknown must be one of {ON_UNKNOWN}, got '
                               f'{on_unknown!r}')
    jobs = [(s, d, r, encoding, on_unknown) for s, d, r in tasks]
    if nproc > 1 and len(jobs) > 1:
        chunk = max(1, min(64, len(jobs) // (4 * nproc)))
        with open(os.devnull, 'w') as devnull:
            kwargs = {} if progress else dict(file=devnull)
            results = track_parallel_progress(
                convert_one, jobs, nproc=nproc, chunksize=chunk, **kwargs)
    elif progress:
        results = track_progress(convert_one, jobs)
    else:
        results = [convert_one(j) for j in jobs]
    errors = [r for r in results if r['error']]
    unknown = {r['rel']: r['unknown'] for r in results if r['unknown']}
    problems = []
    if errors:
        problems.append(f'{len(errors)} unreadable label(s): ' + format_names(
            [r['error'] for r in errors]))
    if unknown and on_unknown == 'error':
        problems.append(
            f'{len(unknown)} label(s) hold ids outside the {dataset} id '
            'table (not converted): ' + format_names(
                [f'{k} {v}' for k, v in unknown.items()]) +
            '; fix the files, or pass --on-unknown ignore to map those ids '
            'to 255')
    if problems:
        raise ConversionError(f'{dataset} conversion in {data_root}: ' +
                              '; '.join(problems))
    if unknown:
        print_log(f'{dataset}: {len(unknown)} label(s) hold unknown ids, '
                  'mapped to 255: ' + format_names(
                      [f'{k} {v}' for k, v in unknown.items()]),
                  logger='current', level=30)
    total = np.zeros(NUM_CLASSES + 1, dtype=np.int64)
    for r in results:
        for k, v in r['counts'].items():
            total[NUM_CLASSES if int(k) == IGNORE_INDEX else int(k)] += v
    stats = dict(
        dataset=dataset,
        classes=list(CITYSCAPES_CLASSES),
        ignore_index=IGNORE_INDEX,
        num_images=len(results),
        num_converted=sum(not r['skipped'] for r in results),
        class_pixels={str(c): int(total[c]) for c in range(NUM_CLASSES)},
        ignored_pixels=int(total[NUM_CLASSES]),
        unknown_ids=unknown,
        images={r['rel']: dict(shape=r['shape'], counts=r['counts'])
                for r in sorted(results, key=lambda r: r['rel'])})
    write_json_atomic(stats, osp.join(data_root, STATS_FILE))
    return stats


def _pair_check(dataset: str, data_root: str, images: List[str],
                labels: List[str], img_desc: str, label_desc: str) -> None:
    img_set, label_set = set(images), set(labels)
    no_label = sorted(img_set - label_set)
    no_image = sorted(label_set - img_set)
    msgs = []
    if no_label:
        msgs.append(f'{len(no_label)} image(s) without a label in '
                    f'{label_desc}: {format_names(no_label)}')
    if no_image:
        msgs.append(f'{len(no_image)} label(s) without an image in '
                    f'{img_desc}: {format_names(no_image)}')
    if msgs:
        raise DataCheckError(f'{dataset} in {data_root}: ' + '; '.join(msgs) +
                             '; restore or remove the unpaired files')
    if not images:
        raise DataCheckError(f'{dataset} in {data_root}: no images found in '
                             f'{img_desc}')


def _plain_pngs(root: str) -> List[str]:
    return [p[:-4] for p in scan_files(root, '.png')
            if not p.endswith(TRAIN_ID_SUFFIX)]


def convert_gta5(data_root: str, nproc: int = 1, on_unknown: str = 'error',
                 progress: bool = True) -> dict:
    """Convert GTA5 ``labels/NNNNN.png`` to ``labels/NNNNN_labelTrainIds.png``.

    Args:
        data_root (str): Folder holding ``images/`` and ``labels/``.
        nproc (int): Processes. Defaults to 1.
        on_unknown (str): 'error' or 'ignore'. Defaults to 'error'.
        progress (bool): Show a progress bar. Defaults to True.

    Returns:
        dict: The statistics (also written to ``sample_class_stats.json``).
    """
    check_dir(data_root, 'GTA5 data root', 'pass the folder that holds '
              'images/ and labels/')
    img_dir = check_dir(osp.join(data_root, 'images'), 'GTA5 image')
    lbl_dir = check_dir(osp.join(data_root, 'labels'), 'GTA5 label')
    labels = _plain_pngs(lbl_dir)
    _pair_check('GTA5', data_root, _plain_pngs(img_dir), labels, 'images/',
                'labels/')
    tasks = [(osp.join(lbl_dir, n + '.png'),
              osp.join(lbl_dir, n + TRAIN_ID_SUFFIX),
              osp.join('labels', n + TRAIN_ID_SUFFIX)) for n in labels]
    return run_conversion(tasks, 'cityscapes_ids', data_root, 'GTA5', nproc,
                          on_unknown, progress)


def convert_synthia(data_root: str, nproc: int = 1,
                    on_unknown: str = 'error', progress: bool = True) -> dict:
    """Convert SYNTHIA ``GT/LABELS/N.png`` (16-bit) to ``N_labelTrainIds.png``.

    Args:
        data_root (str): SYNTHIA-RAND-CITYSCAPES folder (``RGB/``,
            ``GT/LABELS/``).
        nproc (int): Processes. Defaults to 1.
        on_unknown (str): 'error' or 'ignore'. Defaults to 'error'.
        progress (bool): Show a progress bar. Defaults to True.

    Returns:
        dict: The statistics (also written to ``sample_class_stats.json``).
    """
    check_dir(data_root, 'SYNTHIA data root', 'pass the '
              'RAND_CITYSCAPES folder that holds RGB/ and GT/LABELS/')
    img_dir = check_dir(osp.join(data_root, 'RGB'), 'SYNTHIA image')
    lbl_dir = check_dir(osp.join(data_root, 'GT', 'LABELS'), 'SYNTHIA label')
    labels = _plain_pngs(lbl_dir)
    _pair_check('SYNTHIA', data_root, _plain_pngs(img_dir), labels, 'RGB/',
                'GT/LABELS/')
    tasks = [(osp.join(lbl_dir, n + '.png'),
              osp.join(lbl_dir, n + TRAIN_ID_SUFFIX),
              osp.join('GT', 'LABELS', n + TRAIN_ID_SUFFIX)) for n in labels]
    return run_conversion(tasks, 'synthia_16bit', data_root, 'SYNTHIA', nproc,
                          on_unknown, progress)


def convert_cityscapes(data_root: str,
                       splits: Sequence[str] = ('train', 'val'),
                       nproc: int = 1,
                       on_unknown: str = 'error',
                       progress: bool = True) -> dict:
    """Convert ``*_gtFine_labelIds.png`` to ``*_gtFine_labelTrainIds.png``.

    Args:
        data_root (str): Folder holding ``leftImg8bit/`` and ``gtFine/``.
        splits (Sequence[str]): Splits to convert. Defaults to
            ('train', 'val').
        nproc (int): Processes. Defaults to 1.
        on_unknown (str): 'error' or 'ignore'. Defaults to 'error'.
        progress (bool): Show a progress bar. Defaults to True.

    Returns:
        dict: The statistics (also written to ``sample_class_stats.json``).
    """
    check_dir(data_root, 'Cityscapes data root', 'pass the folder that '
              'holds leftImg8bit/ and gtFine/')
    tasks = []
    for split in splits:
        img_dir = check_dir(osp.join(data_root, 'leftImg8bit', split),
                            f'Cityscapes {split} image')
        lbl_dir = check_dir(osp.join(data_root, 'gtFine', split),
                            f'Cityscapes {split} label')
        images = [p[:-len('_leftImg8bit.png')]
                  for p in scan_files(img_dir, '_leftImg8bit.png')]
        labels = [p[:-len('_gtFine_labelIds.png')]
                  for p in scan_files(lbl_dir, '_gtFine_labelIds.png')]
        _pair_check('Cityscapes', data_root, images, labels,
                    f'leftImg8bit/{split}/', f'gtFine/{split}/')
        for n in labels:
            tasks.append((osp.join(lbl_dir, n + '_gtFine_labelIds.png'),
                          osp.join(lbl_dir, n + '_gtFine_labelTrainIds.png'),
                          osp.join('gtFine', split,
                                   n + '_gtFine_labelTrainIds.png')))
    return run_conversion(tasks, 'cityscapes_ids', data_root, 'Cityscapes',
                          nproc, on_unknown, progress)
