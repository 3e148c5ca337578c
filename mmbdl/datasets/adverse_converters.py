"""Layout checks and label conversion of ACDC and Dark Zurich.

Both data sets ship Cityscapes label ids (``*_gt_labelIds.png``) and usually
the matching train ids (``*_gt_labelTrainIds.png``). The converters check
that every labelled image has its label (and the reverse), (re)write the
train ids from the label ids where they are missing or invalid (the common
converter machinery: atomic writes, resumable, unknown ids listed) and write
``<data_root>/sample_class_stats.json``.
"""
import os.path as osp
from typing import Sequence

from .adverse_conditions import ACDC_CONDITIONS
from .converters import _pair_check, run_conversion
from .data_checks import DataCheckError, check_dir, scan_files

IMG_SUFFIX = '_rgb_anon.png'
IDS_SUFFIX = '_gt_labelIds.png'
TRAIN_IDS_SUFFIX = '_gt_labelTrainIds.png'


def _stems(folder: str, suffix: str) -> list:
    return [p[:-len(suffix)] for p in scan_files(folder, suffix)]


def _tasks(data_root: str, img_rel: str, gt_rel: str, dataset: str) -> list:
    img_dir = check_dir(osp.join(data_root, img_rel), f'{dataset} image',
                        f'expected {img_rel}/<sequence>/*{IMG_SUFFIX}')
    gt_dir = check_dir(osp.join(data_root, gt_rel), f'{dataset} label',
                       f'expected {gt_rel}/<sequence>/*{IDS_SUFFIX}')
    images = _stems(img_dir, IMG_SUFFIX)
    labels = _stems(gt_dir, IDS_SUFFIX)
    _pair_check(dataset, data_root, images, labels, img_rel + '/',
                gt_rel + '/')
    return [(osp.join(gt_dir, n + IDS_SUFFIX),
             osp.join(gt_dir, n + TRAIN_IDS_SUFFIX),
             osp.join(gt_rel, n + TRAIN_IDS_SUFFIX)) for n in labels]


def convert_acdc(data_root: str,
                 conditions: Sequence[str] = ACDC_CONDITIONS,
                 splits: Sequence[str] = ('train', 'val'),
                 nproc: int = 1,
                 on_unknown: str = 'error',
                 progress: bool = True) -> dict:
    """Check ACDC's layout and write its train-id labels and statistics.

    Args:
        data_root (str): Folder holding ``rgb_anon/`` and ``gt/``.
        conditions (Sequence[str]): Conditions. Defaults to all four.
        splits (Sequence[str]): Labelled splits. Defaults to
            ('train', 'val').
        nproc (int): Processes. Defaults to 1.
        on_unknown (str): 'error' or 'ignore'. Defaults to 'error'.
        progress (bool): Show a progress bar. Defaults to True.

    Returns:
        dict: The statistics (also written to ``sample_class_stats.json``).
    """
    check_dir(data_root, 'ACDC data root',
              'pass the folder that holds rgb_anon/ and gt/')
    bad = [c for c in conditions if c not in ACDC_CONDITIONS]
    if bad:
        raise DataCheckError(f'ACDC: unknown conditions {bad}; use some of '
                             f'{ACDC_CONDITIONS}')
    if 'test' in splits:
        raise DataCheckError('ACDC: the test split has no public labels; '
                             'convert train and val only')
    tasks = []
    for cond in conditions:
        for split in splits:
            tasks += _tasks(data_root, osp.join('rgb_anon', cond, split),
                            osp.join('gt', cond, split), 'ACDC')
    return run_conversion(tasks, 'cityscapes_ids', data_root, 'ACDC', nproc,
                          on_unknown, progress)


def convert_dark_zurich(data_root: str,
                        nproc: int = 1,
                        on_unknown: str = 'error',
                        progress: bool = True) -> dict:
    """Check Dark Zurich's layout and write its val train ids and statistics.

    The unlabelled night training images (``rgb_anon/train/night``) must
    exist; the labelled night val images (``rgb_anon/val/night`` with
    ``gt/val/night``) are paired and converted.

    Args:
        data_root (str): Folder holding ``rgb_anon/`` and ``gt/``.
        nproc (int): Processes. Defaults to 1.
        on_unknown (str): 'error' or 'ignore'. Defaults to 'error'.
        progress (bool): Show a progress bar. Defaults to True.

    Returns:
        dict: The statistics (also written to ``sample_class_stats.json``).
    """
    check_dir(data_root, 'Dark Zurich data root',
              'pass the folder that holds rgb_anon/ and gt/')
    train = check_dir(osp.join(data_root, 'rgb_anon', 'train', 'night'),
                      'Dark Zurich night training image',
                      f'expected rgb_anon/train/night/<sequence>/'
                      f'*{IMG_SUFFIX}')
    if not scan_files(train, IMG_SUFFIX):
        raise DataCheckError(f'Dark Zurich in {data_root}: no *{IMG_SUFFIX} '
                             'below rgb_anon/train/night')
    tasks = _tasks(data_root, osp.join('rgb_anon', 'val', 'night'),
                   osp.join('gt', 'val', 'night'), 'Dark Zurich')
    return run_conversion(tasks, 'cityscapes_ids', data_root, 'Dark Zurich',
                          nproc, on_unknown, progress)
