r"""Count the host reads (GPU syncs) inside ``train_step``, per phase kind.

Runs the config's BDL loop with one outer round of ``--iters`` iterations
per phase (no validation) and counts every ``item()`` / ``float()`` /
``int()`` / ``bool()`` / ``tolist()`` / ``numpy()`` of a tensor made
inside the model's ``train_step``: on a GPU each one waits for the device
queue. Call sites in mmbdl are listed one by one; the rest (MMEngine,
MMSegmentation, MMagic, torch) are summed. Runs on the CPU, where the same
calls are made; on a GPU ``torch.cuda.set_sync_debug_mode`` shows also the
syncs without a Python call (the cuda test tier does).

Examples:
    python tools/make_demo_data.py --out data/demo
    python tools/analysis/count_host_syncs.py configs/bdl/bdl_demo.py
    python tools/analysis/count_host_syncs.py configs/bdl/bdl_demo_ema.py \
        --iters 10 --json work_dirs/syncs_ema.json
"""
import argparse
import json
import os
import os.path as osp
import sys
import tempfile

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', nargs='?', default='configs/bdl/bdl_demo.py')
    parser.add_argument('--iters', type=int, default=10,
                        help='iterations of every phase (default 10)')
    parser.add_argument('--device-interval', action='store_true',
                        help='read the finite-loss flags every 50 steps as '
                        'on an accelerator (on the CPU the default reads '
                        'them every step: nothing to wait for there)')
    parser.add_argument('--work-dir', default=None,
                        help='default: a temporary folder, removed after')
    parser.add_argument('--json', default=None, help='also write the table')
    return parser.parse_args(argv)


def run(args) -> dict:
    """Train one round of ``--iters`` per phase, counting in train_step."""
    from mmengine.runner import Runner

    import mmbdl
    from mmbdl.utils import load_config, register_all_modules
    from mmbdl.utils.host_sync_counter import PhaseSyncCounts

    register_all_modules(init_default_scope=False)
    cfg = load_config(args.config)
    kinds = list(cfg.train_cfg.phase_iters)
    cfg.train_cfg.phase_iters = {k: args.iters for k in kinds}
    cfg.train_cfg.num_rounds = 1
    cfg.train_cfg.num_ssl_rounds = 1
    cfg.train_cfg.val_interval = 10**9
    if args.device_interval:
        from mmbdl.models.segmentors.finite_loss_check import DEVICE_INTERVAL
        seg = cfg.model.segmentor
        seg.setdefault('uda_cfg', {})['check_finite_interval'] = \
            DEVICE_INTERVAL
    with tempfile.TemporaryDirectory() as tmp:
        cfg.work_dir = args.work_dir or tmp
        runner = Runner.from_cfg(cfg)
        counts = PhaseSyncCounts(runner.model)
        try:
            runner.train()
        finally:
            counts.remove()
    return counts.table(osp.dirname(mmbdl.__file__)), counts.table()


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    own, everything = run(args)
    print(f'host reads inside train_step, {args.config}, {args.iters} '
          'iterations per phase')
    print('| phase kind | steps | all reads | per step | in mmbdl | '
          'in mmbdl, of loaded (CPU) labels |')
    print('| --- | --- | --- | --- | --- | --- |')
    for kind, row in everything.items():
        mine = sum(own[kind]['sites'].values())
        host = sum(own[kind]['host_side'].values())
        print(f'| {kind} | {row["steps"]} | {row["total"]} | '
              f'{row["total"] / max(row["steps"], 1):.1f} | {mine} | '
              f'{host} |')
    for kind, row in own.items():
        for site, count in row['sites'].items():
            print(f'  {kind}: {site} x{count}')
        for site, count in row['host_side'].items():
            print(f'  {kind}: {site} x{count} (host-side)')
    print('largest call sites outside mmbdl (e.g. torch.optim reading its '
          'CPU step counters inside optimizer.step: no device wait):')
    for kind, row in everything.items():
        mine = set(own[kind]['sites']) | set(own[kind]['host_side'])
        upstream = [(s, n) for s, n in row['sites'].items()
                    if s not in mine][:3]
        for site, count in upstream:
            print(f'  {kind}: {site} x{count}')
    if args.json:
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(dict(mmbdl=own, all=everything), f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
