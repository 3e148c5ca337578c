"""Convert SYNTHIA-RAND-CITYSCAPES labels to 19-class train-id PNGs.

Reads ``DATA_ROOT/GT/LABELS/NNNNNNN.png`` (16-bit 3-channel PNGs; the class
id is the channel OpenCV returns last) and writes
``GT/LABELS/NNNNNNN_labelTrainIds.png`` (uint8, 255 = ignore; SYNTHIA has no
terrain, truck or train) next to them, plus
``DATA_ROOT/sample_class_stats.json``
(per-image class pixel counts). Resumable: valid converted files are kept.

Usage:
    python tools/dataset_converters/synthia.py data/synthia --nproc 8
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))

from mmbdl.datasets.converters import convert_synthia  # noqa: E402
from mmbdl.utils.config_utils import run_cli  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert SYNTHIA labels to the 19 Cityscapes train ids')
    parser.add_argument(
        'data_root', help='RAND_CITYSCAPES folder with RGB/ and GT/LABELS/')
    parser.add_argument('--nproc', type=int, default=1,
                        help='number of processes (default 1)')
    parser.add_argument(
        '--on-unknown', choices=('error', 'ignore'), default='error',
        help='ids outside the SYNTHIA id table: fail listing the files '
        '(default) or map them to 255')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    stats = convert_synthia(args.data_root, nproc=args.nproc,
                            on_unknown=args.on_unknown)
    print(f'SYNTHIA: {stats["num_images"]} labels ({stats["num_converted"]} '
          f'converted, the rest already done); class statistics in '
          f'{osp.join(args.data_root, "sample_class_stats.json")}')


if __name__ == '__main__':
    run_cli(main)
