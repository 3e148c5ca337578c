"""Convert GTA5 labels (Cityscapes ids) to 19-class train-id PNGs.

Reads ``DATA_ROOT/labels/NNNNN.png`` (palette PNGs whose pixel values are
Cityscapes label ids) and writes ``labels/NNNNN_labelTrainIds.png`` (uint8,
255 = ignore) next to them, plus ``DATA_ROOT/sample_class_stats.json``
(per-image class pixel counts). Resumable: valid converted files are kept.

Usage:
    python tools/dataset_converters/gta5.py data/gta5 --nproc 8
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))

from mmbdl.datasets.converters import convert_gta5  # noqa: E402
from mmbdl.utils.config_utils import run_cli  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert GTA5 labels to Cityscapes train ids')
    parser.add_argument('data_root', help='folder with images/ and labels/')
    parser.add_argument('--nproc', type=int, default=1,
                        help='number of processes (default 1)')
    parser.add_argument(
        '--on-unknown', choices=('error', 'ignore'), default='error',
        help='ids outside the Cityscapes id table: fail listing the files '
        '(default) or map them to 255')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    stats = convert_gta5(args.data_root, nproc=args.nproc,
                         on_unknown=args.on_unknown)
    print(f'GTA5: {stats["num_images"]} labels ({stats["num_converted"]} '
          f'converted, the rest already done); class statistics in '
          f'{osp.join(args.data_root, "sample_class_stats.json")}')


if __name__ == '__main__':
    run_cli(main)
