"""Write the demo data set used by ``make demo``.

A GTA5-layout source set and a Cityscapes-layout target set (train + val)
of procedurally drawn 128x64 street scenes with a deliberate appearance gap;
the labels are converted by the real converters. Deterministic (``--seed``)
and takes a few seconds. See ``mmbdl/datasets/demo.py``.

Usage:
    python tools/make_demo_data.py [--out data/demo] [--force]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmbdl.datasets.demo import make_demo_data  # noqa: E402
from mmbdl.utils.config_utils import run_cli  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Write the demo data set')
    parser.add_argument('--out', default='data/demo',
                        help='output folder (default data/demo)')
    parser.add_argument('--num-source', type=int, default=200)
    parser.add_argument('--num-target-train', type=int, default=120)
    parser.add_argument('--num-target-val', type=int, default=60)
    parser.add_argument('--size', type=int, nargs=2, default=(128, 64),
                        metavar=('W', 'H'))
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--nproc', type=int, default=1)
    parser.add_argument('--force', action='store_true',
                        help='regenerate even if a complete set exists')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    summary = make_demo_data(
        args.out,
        num_source=args.num_source,
        num_target_train=args.num_target_train,
        num_target_val=args.num_target_val,
        size=tuple(args.size),
        seed=args.seed,
        nproc=args.nproc,
        force=args.force)
    if summary.get('reused'):
        print(f'demo data found in {args.out} (version '
              f'{summary["version"]}, complete); kept (--force redraws it)')
        return
    print(f'demo data in {args.out}: {summary["num_source"]} source, '
          f'{summary["num_target_train"]} target train, '
          f'{summary["num_target_val"]} target val images of '
          f'{summary["size"][0]}x{summary["size"][1]} '
          f'({summary["seconds"]} s)')


if __name__ == '__main__':
    run_cli(main)
