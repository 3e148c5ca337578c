"""Check ACDC's layout and write its train-id labels and class statistics.

Reads ``DATA_ROOT/rgb_anon/{condition}/{split}/{sequence}/*_rgb_anon.png``
with ``DATA_ROOT/gt/{condition}/{split}/{sequence}/*_gt_labelIds.png``,
checks that images and labels pair up, writes ``*_gt_labelTrainIds.png``
where it is missing or invalid (uint8, 255 = ignore) and
``DATA_ROOT/sample_class_stats.json``. Resumable: valid train-id files are
kept.

Usage:
    python tools/dataset_converters/acdc.py data/acdc --nproc 8
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))

from mmbdl.datasets.adverse_conditions import ACDC_CONDITIONS  # noqa: E402
from mmbdl.datasets.adverse_converters import convert_acdc  # noqa: E402
from mmbdl.utils.config_utils import run_cli  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Check ACDC and write its train-id labels')
    parser.add_argument('data_root', help='folder with rgb_anon/ and gt/')
    parser.add_argument('--conditions', nargs='+',
                        default=list(ACDC_CONDITIONS),
                        choices=ACDC_CONDITIONS,
                        help='conditions (default: all four)')
    parser.add_argument('--splits', nargs='+', default=['train', 'val'],
                        choices=('train', 'val'),
                        help='labelled splits (default: train val)')
    parser.add_argument('--nproc', type=int, default=1,
                        help='number of processes (default 1)')
    parser.add_argument(
        '--on-unknown', choices=('error', 'ignore'), default='error',
        help='ids outside 0..33: fail listing the files (default) or map '
        'them to 255')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    stats = convert_acdc(args.data_root, conditions=args.conditions,
                         splits=args.splits, nproc=args.nproc,
                         on_unknown=args.on_unknown)
    print(f'ACDC: {stats["num_images"]} labels ({stats["num_converted"]} '
          'converted, the rest already valid); class statistics in '
          f'{osp.join(args.data_root, "sample_class_stats.json")}')


if __name__ == '__main__':
    run_cli(main)
