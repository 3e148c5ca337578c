"""Write the demo data set used by ``make demo``.

A GTA5-layout source set and a Cityscapes-layout target set (train + val)
of procedurally drawn 128x64 street scenes with a deliberate appearance gap
and (version 3, the default) a content shift: other class frequencies,
object sizes and layouts in each domain. The labels are converted by the
real converters. Deterministic (``--seed``) and takes a few seconds.
``--data-version 2`` draws the previous version (appearance gap only) byte
for byte. See ``mmbdl/datasets/demo.py``.

Usage:
    python tools/make_demo_data.py [--out data/demo] [--force]
        [--data-version 3]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmbdl.datasets.demo import (DATA_VERSION, DATA_VERSIONS,  # noqa: E402
                                 make_demo_data)
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
    parser.add_argument('--data-version', type=int, default=DATA_VERSION,
                        choices=DATA_VERSIONS,
                        help='demo data version to draw (default '
                        f'{DATA_VERSION}); a set of another version is '
                        'redrawn')
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
        force=args.force,
        version=args.data_version)
    if summary.get('reused'):
        print(f'demo data found in {args.out} (version '
              f'{summary["version"]}, complete); kept (--force redraws it)')
        return
    print(f'demo data version {summary["version"]} in {args.out}: '
          f'{summary["num_source"]} source, '
          f'{summary["num_target_train"]} target train, '
          f'{summary["num_target_val"]} target val images of '
          f'{summary["size"][0]}x{summary["size"][1]} '
          f'({summary["seconds"]} s)')


if __name__ == '__main__':
    run_cli(main)
