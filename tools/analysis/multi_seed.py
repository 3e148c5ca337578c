r"""Run a BDL config once per seed and merge the round tables (mean ± std).

Each seed runs ``tools/train.py CONFIG --work-dir WORK_DIR/seed_<S>
--cfg-options randomness.seed=<S> ...`` in its own process (``--jobs``
processes at a time). A seed whose run finished (every segmentation phase
of the plan has a row in ``bdl_rounds.json``) is not run again; one that
stopped half-way is resumed (``--resume``); so a killed seed set is resumed
by repeating the command. The merged table is written atomically to
``WORK_DIR/bdl_rounds_seeds.md`` / ``.json``: per row (model) the mean and
the sample standard deviation (n - 1) over the finished seeds of every
per-class IoU, the headline metric, its gain over the previous row and,
where the rows carry it, the best-on-val value; plus every seed's value.

Refused, naming the differing keys: a seed set whose configs differ in
anything but the seed (and the work dir), and a seed folder whose run (its
dumped config) differs from the requested config and ``--cfg-options``,
before training and with ``--merge-only`` alike. A seed whose run is
missing or did not finish is reported as missing in the table's header and
in the json, never averaged in.

Examples:
    python tools/analysis/multi_seed.py configs/bdl/bdl_demo.py \
        --seeds 0 1 2 --work-dir work_dirs/bdl_demo_seeds
    # merge what is there without running anything
    python tools/analysis/multi_seed.py configs/bdl/bdl_demo.py \
        --seeds 0 1 2 --work-dir work_dirs/bdl_demo_seeds --merge-only
"""
import argparse
import json
import os.path as osp
import sys
import time

# the repository root, for mmbdl (this script's folder, tools/analysis, is
# on sys.path already: the shared code is the seed_sets package)
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

from mmbdl.utils.errors import ConfigCheckError  # noqa: E402
from mmbdl.utils.errors import MissingFileError  # noqa: E402
from seed_sets.configs import default_work_dir  # noqa: E402
from seed_sets.merging import (collect, format_merged,  # noqa: E402
                               write_atomic)
from seed_sets.runs import run_seeds  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--work-dir', help='folder of the seed set (default '
                        'work_dirs/<config name>_seeds)')
    parser.add_argument('--jobs', type=int, default=1,
                        help='seeds trained at the same time (default 1)')
    parser.add_argument('--merge-only', action='store_true',
                        help='do not train; merge the finished seeds')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='overrides for every seed (key=value, as '
                        'tools/train.py takes them)')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if len(set(args.seeds)) != len(args.seeds):
        raise ConfigCheckError(f'--seeds {args.seeds} repeats a seed')
    config = args.config
    if not osp.isfile(config):
        raise MissingFileError(f'config file {config} does not exist')
    work_dir = args.work_dir or default_work_dir(config, '_seeds')
    options = list(args.cfg_options)
    start = time.time()
    times = {}
    if not args.merge_only:
        times = run_seeds(config, work_dir, args.seeds, options, args.jobs)
    merged = collect(config, work_dir, args.seeds, options)
    merged['train_seconds'] = {str(k): v for k, v in times.items()}
    merged['seconds'] = round(time.time() - start, 1)
    command = 'python tools/analysis/multi_seed.py ' + ' '.join(
        sys.argv[1:] if argv is None else argv)
    merged['command'] = command
    text = format_merged(merged, f'`{command}`')
    write_atomic(osp.join(work_dir, 'bdl_rounds_seeds.json'),
                 json.dumps(merged, indent=2))
    write_atomic(osp.join(work_dir, 'bdl_rounds_seeds.md'), text)
    print(text)
    if merged['missing']:
        print(f'[multi_seed] missing (not averaged): seeds '
              f'{merged["missing"]}', file=sys.stderr)
    return merged


if __name__ == '__main__':
    from mmbdl.utils import run_cli
    run_cli(main)
