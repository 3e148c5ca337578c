"""Check Dark Zurich's layout and write its val train ids and statistics.

Checks ``DATA_ROOT/rgb_anon/train/night/{sequence}/*_rgb_anon.png`` (the
unlabelled target images) and pairs ``rgb_anon/val/night/...`` with
``gt/val/night/{sequence}/*_gt_labelIds.png``; writes
``*_gt_labelTrainIds.png`` where it is missing or invalid and
``DATA_ROOT/sample_class_stats.json``. Resumable.

Usage:
    python tools/dataset_converters/dark_zurich.py data/dark_zurich
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))

from mmbdl.datasets.adverse_converters import convert_dark_zurich  # noqa: E402
from mmbdl.utils.config_utils import run_cli  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Check Dark Zurich and write its val train-id labels')
    parser.add_argument('data_root', help='folder with rgb_anon/ and gt/')
    parser.add_argument('--nproc', type=int, default=1,
                        help='number of processes (default 1)')
    parser.add_argument(
        '--on-unknown', choices=('error', 'ignore'), default='error',
        help='ids outside 0..33: fail listing the files (default) or map '
        'them to 255')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    stats = convert_dark_zurich(args.data_root, nproc=args.nproc,
                                on_unknown=args.on_unknown)
    print(f'Dark Zurich: {stats["num_images"]} val labels '
          f'({stats["num_converted"]} converted, the rest already valid); '
          'class statistics in '
          f'{osp.join(args.data_root, "sample_class_stats.json")}')


if __name__ == '__main__':
    run_cli(main)
