"""Benchmark the data scan (``mmbdl.datasets.data_scan``) at the real image
sizes and project its cost for the paper's data sets.

The rehearsal's synthetic sets (``tools/analysis/rehearsal``: GTA5 1914x1052
images and labels, Cityscapes 2048x1024 train and val) are written once into
the work dir; every image and label is then checked as the scan checks it
(a complete decode, the label's size, its class ids) in this process, and
the per-file times give the projection for GTA5 (24,966 images) and
Cityscapes (2,975 train + 500 val images) with 1 and ``--workers``
processes. The figures are CPU times of one process; the projection with
several workers assumes that the disk keeps up.

Examples:
    python tools/analysis/benchmark_data_scan.py
    python tools/analysis/benchmark_data_scan.py --images 12 --workers 8 \
        --json scan_cost.json
"""
import argparse
import glob
import json
import os.path as osp
import sys
import time
from typing import Dict, Optional

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

# this script's folder, tools/analysis, is on sys.path when it runs
from rehearsal.synthetic_data import write_synthetic_sets  # noqa: E402

# the real data sets' file counts (images, each with its label)
REAL_COUNTS = dict(gta5=24966, cityscapes_train=2975, cityscapes_val=500)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--images', type=int, default=6,
                        help='synthetic images per data set (default 6)')
    parser.add_argument('--workers', type=int, default=8,
                        help='worker processes of the projection '
                        '(default 8)')
    parser.add_argument('--repeats', type=int, default=2,
                        help='passes over the files; the fastest counts '
                        '(default 2: the first warms the file cache)')
    parser.add_argument('--work-dir', default='work_dirs/benchmark_data_scan',
                        help='where the synthetic sets are written (kept '
                        'and reused)')
    parser.add_argument('--json', help='also write the figures here')
    return parser.parse_args(argv)


def _per_file(items, repeats: int) -> float:
    """Seconds per item of :func:`check_item` (the fastest pass)."""
    from mmbdl.datasets.data_scan import check_item
    best = None
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        for item in items:
            problem = check_item(item)
            if problem is not None:
                raise RuntimeError(f'synthetic file rejected: {problem}')
        took = (time.perf_counter() - start) / len(items)
        best = took if best is None else min(best, took)
    return best


def measure(root: str, num_images: int, repeats: int = 2,
            sizes: Optional[Dict] = None) -> Dict[str, float]:
    """Write the synthetic sets under ``root`` and time the scan's check.

    Args:
        root (str): Folder of the synthetic sets.
        num_images (int): Images per data set.
        repeats (int): Passes; the fastest counts. Defaults to 2.
        sizes (dict, optional): ``(w, h)`` per data set (default: the real
            sizes; smaller ones only in tests).

    Returns:
        dict: Seconds per image-and-label pair for 'gta5',
        'cityscapes_train' and 'cityscapes_val'.
    """
    write_synthetic_sets(root, 'gta5', num_images, sizes=sizes)
    gta5 = sorted(glob.glob(osp.join(root, 'gta5', 'images', '*.png')))
    # (set, image, label, num_classes, ignore, label_map, reduce_zero,
    #  check_size): every id of 0..255 is valid here, so the id check runs
    # in full and rejects nothing
    items = dict(gta5=[('gta5', p, p.replace(
        osp.join('gta5', 'images'), osp.join('gta5', 'labels')), 256, 255,
                         None, False, False) for p in gta5])
    for split in ('train', 'val'):
        imgs = sorted(glob.glob(osp.join(root, 'cityscapes', 'leftImg8bit',
                                         split, '*', '*_leftImg8bit.png')))
        items[f'cityscapes_{split}'] = [
            ('cityscapes', p,
             p.replace('leftImg8bit', 'gtFine', 1).replace(
                 '_leftImg8bit.png', '_gtFine_labelIds.png'), 256, 255, None,
             False, split == 'val') for p in imgs
        ]
    for name, batch in items.items():
        if not batch:
            raise RuntimeError(f'no synthetic {name} files under {root}')
    return {name: _per_file(batch, repeats) for name, batch in items.items()}


def projection(per_file: Dict[str, float], workers: int) -> Dict[str, float]:
    """Projected seconds for the real data sets (CPU, 1 and ``workers``
    processes)."""
    cpu = sum(per_file[name] * count for name, count in REAL_COUNTS.items())
    return dict(cpu_s=cpu, wall_s_1_worker=cpu,
                wall_s_workers=cpu / max(1, workers), workers=workers)


def main(argv=None) -> Dict:
    args = parse_args(argv)
    per_file = measure(osp.join(args.work_dir, 'synthetic'), args.images,
                       args.repeats)
    proj = projection(per_file, args.workers)
    print('| data set | files (real) | ms per image and label |')
    print('| --- | --- | --- |')
    for name, count in REAL_COUNTS.items():
        print(f'| {name} | {count:,} | {per_file[name] * 1000:.0f} |')
    print(f"projection: {proj['cpu_s']:,.0f} s of CPU time "
          f"({proj['cpu_s'] / 60:.0f} min in one process, "
          f"{proj['wall_s_workers'] / 60:.1f} min with {args.workers} "
          'workers if the disk keeps up)')
    result = dict(per_file_s=per_file, projection=proj, images=args.images)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == '__main__':
    main()
