"""Benchmark pseudo-label generation: mmbdl's streaming labeler against a
naive in-memory implementation of the released method.

A synthetic target set (``--sizes`` images of ``--height`` x ``--width``,
``--num-classes`` classes) is labelled by a small randomly initialised
segmentor with 1/8-resolution logits. For every size, each method runs in a
fresh subprocess, so that its peak resident memory (``ru_maxrss``) is its
own; both use the same inference code, data loading and policy (class-wise
median capped at 0.9), and must write identical labels.

* ``naive``: the release's approach: float64 arrays of N x H x W for the
  argmax and the confidence of every image, a sort per class, then the
  labels.
* ``ours``: :class:`mmbdl.engine.pseudo_labeling.PseudoLabeler`: per-image
  cache plus per-class histograms, exact order statistics, memory flat in N.

Examples:
    python tools/analysis/benchmark_pseudo_label.py             # 50/100/200
    python tools/analysis/benchmark_pseudo_label.py --sizes 20 40 \
        --height 256 --width 512 --json bench.json
"""
import argparse
import json
import os
import os.path as osp
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
IMG_SUFFIX = '_leftImg8bit.png'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', type=int, nargs='+', default=[50, 100,
                                                                 200])
    parser.add_argument('--height', type=int, default=512)
    parser.add_argument('--width', type=int, default=1024)
    parser.add_argument('--num-classes', type=int, default=19)
    parser.add_argument('--repeats', type=int, default=1,
                        help='runs per method and size (the fastest '
                        'counts)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=0,
                        help='torch threads per run (0: torch default)')
    parser.add_argument('--work-dir', default=None,
                        help='folder for data and outputs (default: a '
                        'temporary one, removed at the end)')
    parser.add_argument('--json', default=None, help='write results here')
    # internal: one measured run
    parser.add_argument('--worker', choices=['ours', 'naive'], default=None,
                        help=argparse.SUPPRESS)
    parser.add_argument('--num-images', type=int, default=None,
                        help=argparse.SUPPRESS)
    parser.add_argument('--out-dir', default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def segmentor_cfg(num_classes: int) -> Dict:
    """A small EncoderDecoder with 1/8-resolution logits."""
    return dict(
        type='EncoderDecoder',
        data_preprocessor=dict(
            type='SegDataPreProcessor', mean=[104.0, 116.7, 122.7],
            std=[58.0, 57.0, 57.0], bgr_to_rgb=False, pad_val=0,
            seg_pad_val=255),
        backbone=dict(
            type='ResNetV1c', depth=18, num_stages=2, out_indices=(1, ),
            stem_channels=16, base_channels=16, strides=(1, 2),
            dilations=(1, 1), norm_cfg=dict(type='BN', requires_grad=True)),
        decode_head=dict(
            type='FCNHead', in_channels=32, in_index=0, channels=16,
            num_convs=1, num_classes=num_classes, concat_input=False,
            align_corners=True, norm_cfg=dict(type='BN', requires_grad=True),
            loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
        train_cfg=dict(), test_cfg=dict(mode='whole'))


def dataset_cfg(data_root: str, num_images: int, num_classes: int) -> Dict:
    return dict(
        type='BaseSegDataset', data_root=data_root,
        metainfo=dict(classes=tuple(f'c{i}' for i in range(num_classes))),
        img_suffix=IMG_SUFFIX, data_prefix=dict(img_path='img'),
        indices=num_images,
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='PackSegInputs')])


def write_data(data_root: str, count: int, height: int, width: int) -> None:
    """Synthetic street-like images (smooth bands and blocks + noise)."""
    import cv2
    rng = np.random.default_rng(0)
    os.makedirs(osp.join(data_root, 'img', 'city'), exist_ok=True)
    yy, xx = np.mgrid[0:height, 0:width]
    for n in range(count):
        img = np.zeros((height, width, 3), np.float32)
        for c in range(3):
            fy, fx = rng.uniform(1, 6, 2)
            img[..., c] = 127 + 100 * np.sin(yy / height * fy * np.pi +
                                             xx / width * fx * np.pi + c)
        for _ in range(6):
            y, x = rng.integers(0, height - 64), rng.integers(0, width - 64)
            img[y:y + 64, x:x + 96] = rng.uniform(0, 255, 3)
        img += rng.normal(0, 8, img.shape)
        cv2.imwrite(osp.join(data_root, 'img', 'city',
                             f'city_{n:06d}{IMG_SUFFIX}'),
                    np.clip(img, 0, 255).astype(np.uint8))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_worker(args: argparse.Namespace) -> None:
    """One measured run; prints a JSON line."""
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    from mmbdl.engine.pseudo_labeling import PseudoLabeler, prepare_round_dir
    from mmbdl.registry import DATASETS, MODELS
    from mmbdl.utils import register_all_modules
    register_all_modules()
    torch.manual_seed(0)
    model = MODELS.build(segmentor_cfg(args.num_classes))
    with torch.no_grad():
        model.decode_head.conv_seg.weight.mul_(50.0)
    model = model.to(args.device).eval()
    dataset = DATASETS.build(dataset_cfg(osp.join(args.work_dir, 'data'),
                                         args.num_images, args.num_classes))
    labeler = PseudoLabeler(model)
    rss_before = _peak_rss_mb()
    start = time.perf_counter()
    if args.worker == 'ours':
        prepare_round_dir(args.out_dir, dict(run='benchmark'),
                          overwrite=True)
        labeler.label_dataset(dataset, args.out_dir, progress=False)
    else:
        naive_release_method(labeler, dataset, args.out_dir,
                             args.num_classes)
    seconds = time.perf_counter() - start
    print(json.dumps(dict(method=args.worker, num_images=args.num_images,
                          seconds=seconds,
                          images_per_s=args.num_images / seconds,
                          peak_rss_mb=_peak_rss_mb(),
                          rss_before_mb=rss_before)))


def naive_release_method(labeler, dataset, out_dir: str,
                         num_classes: int, cap: float = 0.9) -> None:
    """The released approach: everything in memory, a sort per class.

    Two float64 arrays of N x H x W hold the argmax and the maximum
    probability of every image; per class the confidences of its pixels are
    sorted and the element at ``round(n / 2)`` (capped) is the threshold.
    """
    from mmbdl.engine.pseudo_labeling.label_files import (pseudo_label_path,
                                                          pseudo_label_relpath,
                                                          write_label_png)
    img_root = dataset.data_prefix['img_path']
    dataset.full_init()
    labeler.check_num_classes(num_classes)
    labels = probs = None
    names = []
    paths = [dataset.get_data_info(i)['img_path']
             for i in range(len(dataset))]
    for idx, result in labeler._iterate(dataset, 1, 0, False, paths):
        if labels is None:
            shape = (len(dataset), ) + result['pred'].shape
            labels = np.zeros(shape)
            probs = np.zeros(shape)
        labels[idx] = result['pred']
        probs[idx] = result['conf']
        names.append(pseudo_label_relpath(result['img_path'], img_root))
    thresholds = []
    for c in range(num_classes):
        x = probs[labels == c]
        if len(x) == 0:
            thresholds.append(0.0)
            continue
        x = np.sort(x)
        thresholds.append(x[int(np.round(len(x) * 0.5))])
    thresholds = np.minimum(np.array(thresholds), cap)
    for idx, name in enumerate(names):
        label = labels[idx].copy()
        prob = probs[idx]
        for c in range(num_classes):
            label[(prob < thresholds[c]) & (label == c)] = 255
        write_label_png(label.astype(np.uint8),
                        pseudo_label_path(out_dir, name))


def _same_labels(dir_a: str, dir_b: str) -> bool:
    """Whether two label folders hold identical label maps."""
    import cv2
    for root, _, files in os.walk(dir_a):
        for name in files:
            if not name.endswith('.png'):
                continue
            a = cv2.imread(osp.join(root, name), cv2.IMREAD_UNCHANGED)
            b = cv2.imread(osp.join(dir_b, osp.relpath(osp.join(root, name),
                                                       dir_a)),
                           cv2.IMREAD_UNCHANGED)
            if b is None or not np.array_equal(a, b):
                return False
    return True


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    if args.worker:
        run_worker(args)
        return
    work_dir = args.work_dir or tempfile.mkdtemp(prefix='pl_bench_')
    data_root = osp.join(work_dir, 'data')
    print(f'writing {max(args.sizes)} synthetic {args.height}x{args.width} '
          f'images to {data_root}', flush=True)
    write_data(data_root, max(args.sizes), args.height, args.width)
    results = []
    try:
        for size in args.sizes:
            row = dict(num_images=size)
            for method in ('naive', 'ours'):
                best = None
                for _ in range(args.repeats):
                    out_dir = osp.join(work_dir, f'{method}_{size}')
                    shutil.rmtree(out_dir, ignore_errors=True)
                    cmd = [sys.executable, osp.abspath(__file__), '--worker',
                           method, '--num-images', str(size), '--out-dir',
                           out_dir, '--work-dir', work_dir, '--num-classes',
                           str(args.num_classes), '--device', args.device,
                           '--threads', str(args.threads)]
                    proc = subprocess.run(cmd, capture_output=True,
                                          text=True)
                    if proc.returncode != 0:
                        raise RuntimeError(f'{method} run failed:\n'
                                           f'{proc.stderr[-3000:]}')
                    res = json.loads(proc.stdout.strip().splitlines()[-1])
                    if best is None or res['seconds'] < best['seconds']:
                        best = dict(res, peak_rss_mb=max(
                            res['peak_rss_mb'],
                            (best or {}).get('peak_rss_mb', 0)))
                row[method] = best
            row['identical_labels'] = _same_labels(
                osp.join(work_dir, f'naive_{size}'),
                osp.join(work_dir, f'ours_{size}'))
            results.append(row)
            for method in ('naive', 'ours'):
                res = row[method]
                res['labelling_rss_mb'] = res['peak_rss_mb'] - \
                    res['rss_before_mb']
                print(f"{size:>5} images | {method:<5} "
                      f"{res['images_per_s']:7.2f} img/s "
                      f"({res['seconds']:7.1f} s) | peak RSS "
                      f"{res['peak_rss_mb']:8.1f} MB (+"
                      f"{res['labelling_rss_mb']:7.1f} MB while labelling)",
                      flush=True)
            print(f"{size:>5} images | identical labels: "
                  f"{row['identical_labels']}", flush=True)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)
    ours = [r['ours']['peak_rss_mb'] for r in results]
    growth = (max(ours) - min(ours)) / min(ours)
    slower = [r['num_images'] for r in results
              if r['ours']['images_per_s'] < r['naive']['images_per_s']]
    summary = dict(
        height=args.height, width=args.width, num_classes=args.num_classes,
        device=args.device, results=results,
        ours_peak_rss_growth=growth,
        ours_flat_within_10pct=growth <= 0.10,
        ours_not_slower=not slower)
    speed = 'never slower than naive' if not slower else \
        f'slower than naive at {slower} images'
    print(f'ours: peak RSS growth over sizes {100 * growth:.1f}% '
          f"({'flat' if growth <= 0.10 else 'NOT flat'} within 10%), {speed}")
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(summary, f, indent=2)


if __name__ == '__main__':
    main()
