"""The data scan before training: every file the run will read, decoded.

The build-time checks of the data sets (:mod:`.data_checks`) read image
headers only, so a truncated PNG, a label of another size or a label with
class ids outside the map surfaces hours later, when a phase first reads
it. The scan decodes every image and label of the data sets a run reads
(source, target train, target val, and the translated-source and
pseudo-label folders that already exist in the work dir) in worker
processes, with a progress bar, and refuses to start with one error that
lists the bad files (up to a limit) and the fix.

A label is checked with its image: same size (for evaluation sets, where a
prediction is compared pixel by pixel; training pipelines resize both) and
class ids, after the data set's ``label_map`` / ``reduce_zero_label``,
within ``0..num_classes-1`` or ``ignore_index``. A data set with no file is
an error too.
"""
import glob
import os
import os.path as osp
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.logging import print_log
from mmengine.utils import track_parallel_progress
from PIL import Image

from .data_checks import DataCheckError

__all__ = ['DataScanError', 'ScanItem', 'check_item', 'items_of_dataset',
           'items_of_work_dir', 'scan_items']

# below this many files the scan runs in this process (no pool start-up)
SERIAL_BELOW = 64


class DataScanError(DataCheckError):
    """Files that cannot be read as the run will read them."""


# (set name, image path, label path or None, num_classes or None,
#  ignore_index, label_map as sorted (old, new) pairs or None,
#  reduce_zero_label, check_size)
ScanItem = Tuple[str, str, Optional[str], Optional[int], int,
                 Optional[Tuple[Tuple[int, int], ...]], bool, bool]


def _decode(path: str) -> Image.Image:
    img = Image.open(path)
    img.load()  # the whole file: a truncated one fails here
    return img


def check_item(item: ScanItem) -> Optional[str]:
    """Decode one image (and its label) and check them.

    Args:
        item (ScanItem): What to check.

    Returns:
        str | None: The problem, or None where the files are usable.
    """
    name, img_path, seg_path, num_classes, ignore, label_map, reduce_zero, \
        check_size = item
    try:
        img = _decode(img_path)
    except Exception as err:  # noqa: BLE001 (any decode failure)
        return f'{img_path}: image cannot be decoded ({err})'
    if seg_path is None:
        return None
    try:
        seg = _decode(seg_path)
    except Exception as err:  # noqa: BLE001
        return f'{seg_path}: label cannot be decoded ({err})'
    if check_size and seg.size != img.size:
        return (f'{seg_path}: label size {seg.size[0]}x{seg.size[1]} differs '
                f'from its image {img_path} ({img.size[0]}x{img.size[1]})')
    if num_classes is None:
        return None
    ids = np.unique(np.asarray(seg))
    if ids.dtype.kind not in 'iu' or np.asarray(seg).ndim != 2:
        return f'{seg_path}: label is not a single-channel id map'
    label_map = dict(label_map or ())
    final = []
    for value in ids.tolist():
        if label_map:
            value = label_map.get(value, value)
        if reduce_zero:
            value = 255 if value == 0 else (value - 1 if value != 255 else
                                            255)
        final.append(value)
    bad = sorted({v for v in final if not (0 <= v < num_classes or
                                           v == ignore)})
    if bad:
        return (f'{seg_path}: class ids {bad[:8]} are outside 0..'
                f'{num_classes - 1} and {ignore} (the class map)')
    return None


def items_of_dataset(dataset, name: str,
                     check_size: bool) -> List[ScanItem]:
    """The files of a built data set (source and target of a UDA set).

    Args:
        dataset: An MMSegmentation data set, or one with ``source`` and
            ``target`` data sets.
        name (str): Its name in messages.
        check_size (bool): Whether labels must have their image's size.

    Returns:
        list[ScanItem]: One item per sample.
    """
    if hasattr(dataset, 'source') and hasattr(dataset, 'target'):
        return (items_of_dataset(dataset.source, f'{name} source',
                                 check_size) +
                items_of_dataset(dataset.target, f'{name} target',
                                 check_size))
    if hasattr(dataset, 'source_paths') and hasattr(dataset,
                                                    'target_paths'):
        # an unpaired (translation) set: images only
        return [(f'{name} {side}', osp.abspath(path), None, None, 255, None,
                 False, False)
                for side in ('source', 'target')
                for path in getattr(dataset, f'{side}_paths')]
    meta = getattr(dataset, 'metainfo', None) or {}
    classes = meta.get('classes')
    num_classes = len(classes) if classes else None
    label_map = getattr(dataset, 'label_map', None) or None
    if label_map:
        label_map = tuple(sorted(label_map.items()))
    ignore = int(getattr(dataset, 'ignore_index', 255))
    reduce_zero = bool(getattr(dataset, 'reduce_zero_label', False))
    items = []
    for idx in range(len(dataset)):
        info = dataset.get_data_info(idx)
        if 'img_path' not in info:
            continue
        seg = info.get('seg_map_path')
        items.append((name, osp.abspath(info['img_path']),
                      osp.abspath(seg) if seg else None, num_classes,
                      ignore, label_map, reduce_zero, check_size))
    if not items:
        raise DataScanError(
            f'data scan: the {name} data set has no sample; check its '
            'data_root and data_prefix in the config')
    return items


def items_of_work_dir(work_dir: str,
                      num_classes: Optional[int]) -> List[ScanItem]:
    """The translated-source images and pseudo-labels already written in a
    work dir (a resumed run reads them)."""
    items = []
    for path in sorted(glob.glob(osp.join(work_dir, 'translated', '**',
                                          '*.png'), recursive=True)):
        items.append(('translated source', path, None, None, 255, None,
                      False, False))
    for path in sorted(glob.glob(osp.join(work_dir, 'pseudo_labels', '**',
                                          '*.png'), recursive=True)):
        # a pseudo-label is an id map: decoded as the "image", ids checked
        items.append(('pseudo-labels', path, path, num_classes, 255, None,
                      False, False))
    return items


def scan_items(items: Sequence[ScanItem], workers: Optional[int] = None,
               max_listed: int = 20) -> dict:
    """Check every item (in parallel worker processes) and refuse bad ones.

    Args:
        items (Sequence[ScanItem]): What to check (duplicates are checked
            once).
        workers (int, optional): Worker processes. Defaults to None
            (the CPU count, at most 8).
        max_listed (int): Bad files listed in the error. Defaults to 20.

    Returns:
        dict: ``files``, ``seconds`` and ``sets`` (files per set name).

    Raises:
        DataScanError: Listing the bad files and the fix.
    """
    # each (image, label) pair once; an image alone only where no pair
    # decodes it already
    pairs: Dict[Tuple[str, Optional[str]], ScanItem] = {}
    for item in items:
        pairs.setdefault((item[1], item[2]), item)
    labelled = {i[1] for i in pairs.values() if i[2] is not None}
    unique = [i for i in pairs.values()
              if i[2] is not None or i[1] not in labelled]
    start = time.perf_counter()
    if workers is None:
        workers = min(8, os.cpu_count() or 1)
    if len(unique) < SERIAL_BELOW or workers <= 1:
        problems = [check_item(item) for item in unique]
    else:
        chunk = max(1, len(unique) // (workers * 16))
        problems = track_parallel_progress(
            check_item, unique, workers, chunksize=chunk)
    seconds = time.perf_counter() - start
    bad = [p for p in problems if p is not None]
    sets: Dict[str, int] = {}
    for item in unique:
        sets[item[0]] = sets.get(item[0], 0) + 1
    if bad:
        shown = '; '.join(bad[:max_listed])
        more = f' ... and {len(bad) - max_listed} more' \
            if len(bad) > max_listed else ''
        raise DataScanError(
            f'data scan: {len(bad)} of {len(unique)} files cannot be used: '
            f'{shown}{more}. Replace or re-convert these files (or remove '
            'them with their labels), then start again; --skip-data-scan '
            'starts without this check')
    print_log(
        f'data scan: {len(unique)} files decoded in {seconds:.1f} s ('
        + ', '.join(f'{k}: {v}' for k, v in sets.items()) + '), all usable',
        logger='current')
    return dict(files=len(unique), seconds=seconds, sets=sets)


def _dataset_cfgs(cfg) -> List[Tuple[str, dict, bool]]:
    """``(name, dataset config, check_size)`` of the data sets a run reads."""
    found = []
    for key, name, size in (('train_dataloader', 'train', False),
                            ('val_dataloader', 'val', True),
                            ('pseudo_label_dataloader', 'pseudo-labelling',
                             False)):
        loader = cfg.get(key)
        if loader and loader.get('dataset'):
            found.append((name, loader['dataset'], size))
    phase_loaders = (cfg.get('train_cfg') or {}).get('phase_dataloaders')
    for phase, loader in (phase_loaders or {}).items():
        if loader and loader.get('dataset'):
            found.append((f'{phase} phase', loader['dataset'], False))
    return found


def scan_config(cfg, work_dir: str, workers: Optional[int] = None,
                max_listed: int = 20) -> dict:
    """Scan the data sets of a config and the work dir's folders.

    Args:
        cfg (Config): The run's config.
        work_dir (str): The run's work dir.
        workers (int, optional): Worker processes. Defaults to None.
        max_listed (int): Bad files listed. Defaults to 20.

    Returns:
        dict: What :func:`scan_items` returns.
    """
    import copy

    from mmbdl.registry import DATASETS
    items: List[ScanItem] = []
    num_classes = None
    for name, dataset_cfg, check_size in _dataset_cfgs(cfg):
        dataset = DATASETS.build(copy.deepcopy(dataset_cfg))
        new = items_of_dataset(dataset, name, check_size)
        num_classes = num_classes or next(
            (i[3] for i in new if i[3] is not None), None)
        items.extend(new)
    items.extend(items_of_work_dir(work_dir, num_classes))
    return scan_items(items, workers, max_listed)
