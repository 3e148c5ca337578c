"""Show the demo data as one grid PNG (source / label / target / label).

Rows: source images, their labels, target training images, their labels
(colours of the 19 Cityscapes classes, black = ignore), read back through
the converted train-id files, so the grid also checks the converters.

``--frequencies`` prints the per-class pixel frequencies of both domains
instead (a Markdown table from the set's ``.complete`` summary: % of the
labelled pixels of each domain, the target's train and val splits
together, and their ratio), the content shift of demo data version 3.

Usage:
    python tools/analysis/show_demo_data.py [--data-root data/demo]
        [--num 6] [--scale 2] [--out work_dirs/demo_grid.png]
    python tools/analysis/show_demo_data.py --frequencies
        [--data-root data/demo]
"""
import argparse
import glob
import json
import os
import os.path as osp
import sys

import numpy as np
from PIL import Image

from mmbdl.utils.errors import MissingFileError

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))

from mmbdl.datasets.label_maps import CITYSCAPES_CLASSES  # noqa: E402
from mmbdl.datasets.label_maps import CITYSCAPES_PALETTE  # noqa: E402


def colourise(train_ids: np.ndarray) -> np.ndarray:
    """Colour a train-id map with the Cityscapes palette (255 -> black)."""
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[:len(CITYSCAPES_PALETTE)] = np.array(CITYSCAPES_PALETTE, np.uint8)
    return lut[train_ids]


def demo_grid(data_root: str, num: int = 6, scale: int = 2,
              pad: int = 2) -> np.ndarray:
    """Build the grid image.

    Args:
        data_root (str): Output folder of ``tools/make_demo_data.py``.
        num (int): Columns (samples per row). Defaults to 6.
        scale (int): Pixel magnification. Defaults to 2.
        pad (int): White gap between cells. Defaults to 2.

    Returns:
        np.ndarray: HxWx3 uint8 RGB grid.
    """
    src_imgs = sorted(glob.glob(osp.join(data_root, 'gta5', 'images',
                                         '*.png')))[:num]
    tgt_imgs = sorted(glob.glob(osp.join(
        data_root, 'cityscapes', 'leftImg8bit', 'train', '*',
        '*_leftImg8bit.png')))[:num]
    if not src_imgs or not tgt_imgs:
        raise MissingFileError(
            f'no demo images below {data_root}; run '
            f'`python tools/make_demo_data.py --out {data_root}` first')

    def src_label(p):
        return p.replace(f'{os.sep}images{os.sep}',
                         f'{os.sep}labels{os.sep}')[:-4] + '_labelTrainIds.png'

    def tgt_label(p):
        return p.replace('leftImg8bit', 'gtFine', 1).replace(
            '_leftImg8bit.png', '_gtFine_labelTrainIds.png')

    def load(p, label=False):
        arr = np.array(Image.open(p))
        return colourise(arr) if label else arr[..., :3]

    rows = [[load(p) for p in src_imgs],
            [load(src_label(p), True) for p in src_imgs],
            [load(p) for p in tgt_imgs],
            [load(tgt_label(p), True) for p in tgt_imgs]]
    h, w = rows[0][0].shape[:2]
    h, w = h * scale, w * scale
    cols = max(len(r) for r in rows)
    grid = np.full((len(rows) * (h + pad) + pad, cols * (w + pad) + pad, 3),
                   255, dtype=np.uint8)
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            cell = np.kron(cell, np.ones((scale, scale, 1), np.uint8))
            y, x = pad + r * (h + pad), pad + c * (w + pad)
            grid[y:y + cell.shape[0], x:x + cell.shape[1]] = cell
    return grid


def class_frequencies(data_root: str) -> dict:
    """Per-class pixel frequencies of both domains of a demo set.

    Args:
        data_root (str): Output folder of ``tools/make_demo_data.py``.

    Returns:
        dict: ``summary`` (the set's ``.complete``) and ``rows``: one
        ``(class name, source %, target %)`` per class present in either
        domain, in train-id order; % of the domain's labelled pixels.
    """
    marker = osp.join(data_root, '.complete')
    if not osp.isfile(marker):
        raise MissingFileError(
            f'no complete demo set in {data_root} ({marker} is missing); '
            f'run `python tools/make_demo_data.py --out {data_root}` first')
    with open(marker) as f:
        summary = json.load(f)
    counts = []
    for key in ('source_class_pixels', 'target_class_pixels'):
        if key not in summary:
            raise MissingFileError(
                f'{marker} has no {key}; redraw the set with `python '
                f'tools/make_demo_data.py --out {data_root} --force`')
        counts.append(np.array([summary[key].get(str(c), 0)
                                for c in range(len(CITYSCAPES_CLASSES))],
                               dtype=np.float64))
    src, tgt = (100.0 * c / max(c.sum(), 1.0) for c in counts)
    rows = [(name, float(s), float(t))
            for name, s, t in zip(CITYSCAPES_CLASSES, src, tgt) if s or t]
    return dict(summary=summary, rows=rows)


def frequency_table(data_root: str) -> str:
    """The frequencies of :func:`class_frequencies` as a Markdown table.

    Args:
        data_root (str): Output folder of ``tools/make_demo_data.py``.

    Returns:
        str: A heading line and the table (``target / source`` is the
        ratio of the two frequencies, ``-`` where the source has none).
    """
    freq = class_frequencies(data_root)
    s = freq['summary']
    lines = [
        f'demo data version {s.get("version", 1)} (seed {s["seed"]}, '
        f'{s["num_source"]} source, {s["num_target_train"]} + '
        f'{s["num_target_val"]} target images of {s["size"][0]}x'
        f'{s["size"][1]}): % of each domain\'s labelled pixels', '',
        '| class | source % | target % | target / source |',
        '| --- | --- | --- | --- |'
    ]
    for name, src, tgt in freq['rows']:
        ratio = f'{tgt / src:.2f}' if src else '-'
        lines.append(f'| {name} | {src:.2f} | {tgt:.2f} | {ratio} |')
    return '\n'.join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default='data/demo')
    parser.add_argument('--num', type=int, default=6)
    parser.add_argument('--scale', type=int, default=2)
    parser.add_argument('--out', default='work_dirs/demo_grid.png')
    parser.add_argument('--frequencies', action='store_true',
                        help='print the per-class pixel frequencies of both '
                        'domains instead of writing the grid')
    args = parser.parse_args()
    if args.frequencies:
        print(frequency_table(args.data_root))
        return
    grid = demo_grid(args.data_root, args.num, args.scale)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    Image.fromarray(grid).save(args.out)
    print(f'wrote {args.out} (rows: source, source label, target, '
          'target label)')


if __name__ == '__main__':
    main()
