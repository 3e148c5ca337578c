"""Train a model from an mmbdl config.

Example:
    python tools/train.py configs/bdl/bdl_demo.py --work-dir work_dirs/demo
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None) -> argparse.Namespace:
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(description='Train an mmbdl model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or, with no value, from the '
        'latest checkpoint in the work dir')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic mixed precision training (float16 autocast '
        'with dynamic loss scaling unless --amp-dtype says otherwise)')
    parser.add_argument(
        '--amp-dtype',
        choices=['float16', 'bfloat16'],
        default=None,
        help="autocast dtype of --amp in every phase (default: the config's "
        'amp_dtype, else float16 as in MMEngine)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs in xxx=yyy '
        'format')
    parser.add_argument(
        '--skip-data-scan',
        action='store_true',
        help='start without decoding every image and label first (the '
        'data scan; config key data_scan=False)')
    parser.add_argument(
        '--force-unlock',
        action='store_true',
        help='take over the work dir lock that another (gone) run left; '
        'only when that run is surely not running any more')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local_rank / --local-rank
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    from mmengine.runner import Runner

    from mmbdl.utils import load_config, register_all_modules
    from mmbdl.utils.launch import (check_amp_request, enable_amp,
                                    prepare_distributed, set_work_dir)
    from mmbdl.utils.work_dir_lock import WorkDirLock, launch_rank

    register_all_modules(init_default_scope=False)
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    set_work_dir(cfg, args.config, args.work_dir)
    check_amp_request(cfg, args.amp, args.amp_dtype)
    if args.amp:
        enable_amp(cfg, args.amp_dtype)
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    # one run per work dir: rank 0 holds the lock until the run ends
    lock = WorkDirLock(cfg.work_dir, force=args.force_unlock)
    if launch_rank() == 0:
        lock.acquire()
    try:
        if args.skip_data_scan:
            cfg.data_scan = False
        prepare_distributed(cfg)
        if 'runner_type' in cfg:
            from mmbdl.registry import RUNNERS
            runner = RUNNERS.build(cfg)
        else:
            runner = Runner.from_cfg(cfg)
        runner.train()
    finally:
        lock.release()


if __name__ == '__main__':
    try:
        import mmbdl  # noqa: F401  (checks the installed dependency versions)
    except ImportError as err:
        sys.exit(f'error: {err}')
    from mmbdl.utils import run_cli
    run_cli(main)
