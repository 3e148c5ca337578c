"""Convert Cityscapes ``*_gtFine_labelIds.png`` to train-id PNGs.

Reads ``DATA_ROOT/gtFine/{split}/{city}/*_gtFine_labelIds.png`` (8-bit label
ids) and writes ``*_gtFine_labelTrainIds.png`` (uint8, 255 = ignore) next to
them, the files MMSegmentation's Cityscapes loader reads, plus
``DATA_ROOT/sample_class_stats.json``. Resumable: valid converted files are
kept.

Usage:
    python tools/dataset_converters/cityscapes.py data/cityscapes --nproc 8
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))

from mmbdl.datasets.converters import convert_cityscapes  # noqa: E402
from mmbdl.utils.config_utils import run_cli  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert Cityscapes label ids to train ids')
    parser.add_argument('data_root',
                        help='folder with leftImg8bit/ and gtFine/')
    parser.add_argument('--splits', nargs='+', default=['train', 'val'],
                        help='splits to convert (default: train val)')
    parser.add_argument('--nproc', type=int, default=1,
                        help='number of processes (default 1)')
    parser.add_argument(
        '--on-unknown', choices=('error', 'ignore'), default='error',
        help='ids outside 0..33: fail listing the files (default) or map '
        'them to 255')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    stats = convert_cityscapes(args.data_root, splits=args.splits,
                               nproc=args.nproc, on_unknown=args.on_unknown)
    print(f'Cityscapes: {stats["num_images"]} labels '
          f'({stats["num_converted"]} converted, the rest already done); '
          'class statistics in '
          f'{osp.join(args.data_root, "sample_class_stats.json")}')


if __name__ == '__main__':
    run_cli(main)
