r"""Rehearse a BDL config at full scale on synthetic data; project the cost.

Writes synthetic data sets in the real layouts, encodings and image sizes
(GTA5 1914x1052 palette labels or SYNTHIA 1280x760 16-bit labels, and
Cityscapes 2048x1024), ``--images N`` per split, then runs the config itself
through ``BidirectionalTrainLoop`` (real models, resolutions, hooks and
checkpoints) with ``--iters`` iterations per phase and K / N rounds from
``--rounds`` / ``--ssl-rounds``. Per phase it measures step time, peak memory
(process tree RSS/PSS; CUDA max allocated), FLOPs per step and the share of
this machine's measured convolution throughput, data-set build time,
translation, pseudo-labelling and evaluation images/s, pseudo-label cache
disk use, checkpoint size and the memory before and after the phase. It
writes ``rehearsal.md`` and ``rehearsal.json`` into the work dir with a
projection of the config's whole schedule at the real data-set sizes, on
this machine and on a GPU (measured by ``gpu_check.sh`` when its JSON is
given with ``--gpu-json``, else a stated assumption).

Before writing anything it estimates the disk and memory it needs and
refuses when they are not available. ``--plan-only`` prints the schedule,
FLOPs and projection (from the last rehearsal in the work dir when there is
one, else from FLOP estimates) without training; with ``--memory`` also
the estimated peak memory of every phase kind (the same memory model).

A config with ``train_cfg.plan`` (e.g. configs/vfm-uda) is planned from
its own phase kinds; a kind labelled online by the EMA teacher ('uda', or
'self_training' with ``train_cfg.self_training='ema_teacher'``) is costed
from its loss terms (3 forward passes' FLOPs per image M trains on, one
teacher forward per labelling pass, D for the adversarial term, times the
batch) and probed without pseudo-label files. On CPU the memory is an
fp32 estimate (an ``AmpOptimWrapper`` is probed as an ``OptimWrapper``);
above 80 GB the output names the switch to try (e.g. ``--cfg-options
model.segmentor.segmentor.backbone.with_cp=True``).

Examples:
    python tools/analysis/rehearse.py \
        configs/bdl/bdl_deeplabv2-r101_*_gta5-to-cityscapes-1024x512.py \
        --images 24 --iters 2 --work-dir work_dirs/rehearsal_r101
    python tools/analysis/rehearse.py CONFIG --plan-only [--memory]
    python tools/analysis/rehearse.py \
        configs/vfm-uda/vfm-uda_dinov2-vitl14_*.py --plan-only --memory \
        --cfg-options model.segmentor.segmentor.backbone.with_cp=True
"""
import argparse
import json
import os
import os.path as osp
import shutil
import sys
import time

# the repository root, for mmbdl (this script's folder, tools/analysis, is
# on sys.path when it runs as a script: the shared code is the rehearsal
# package)
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='BDL config (BidirectionalTrainLoop)')
    parser.add_argument('--work-dir', help='default: work_dirs/rehearsal_'
                        '<config name>')
    parser.add_argument('--data-root', help='synthetic data sets (default: '
                        '<work-dir>/data); reused when complete')
    parser.add_argument('--images', type=int, default=4,
                        help='images per split (source, target train, '
                        'target val)')
    parser.add_argument('--iters', type=int, default=2,
                        help='iterations per phase (>= 2: the first one is '
                        'the FLOP-counted, untimed step)')
    parser.add_argument('--rounds', type=int, default=1, help='K')
    parser.add_argument('--ssl-rounds', type=int, default=1, help='N')
    parser.add_argument('--workers', type=int, default=None,
                        help='override every dataloader num_workers '
                        '(default: the config\'s)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads (default: torch\'s)')
    parser.add_argument('--allow-random-init', action='store_true',
                        help='train from random backbone weights (no '
                        'pretrained file needed; figures are unaffected)')
    parser.add_argument('--gpu-json', help='gpu_check.sh result (measured '
                        'GPU throughput and step times)')
    parser.add_argument('--plan-only', action='store_true',
                        help='print schedule, FLOPs and projection only')
    parser.add_argument('--memory', action='store_true',
                        help='with --plan-only: also estimate the peak '
                        'memory of every phase kind from probe steps at '
                        '1/4 and 1/2 of the real sizes (the model the '
                        'rehearsal checks its needs with; minutes for a '
                        'ViT-L)')
    parser.add_argument('--memory-scales', type=float, nargs='+',
                        default=[0.25, 0.5],
                        help='side-length scales of the memory probes '
                        '(at least two; default 1/4 and 1/2)')
    parser.add_argument('--memory-autocast', choices=['bfloat16'],
                        help='run the segmentation probes on CPU under '
                        'torch.autocast(bfloat16): a measured, CUDA-free '
                        'stand-in for the GPU\'s 16-bit AMP activations')
    parser.add_argument('--no-flops', action='store_true',
                        help='do not count FLOPs (all steps timed)')
    parser.add_argument('--keep-data', action='store_true',
                        help='keep S\' and pseudo-label folders afterwards')
    parser.add_argument('--report-only', action='store_true',
                        help='rewrite rehearsal.md/.json from the raw '
                        'records of the last run in the work dir')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='key=value config overrides')
    return parser.parse_args(argv)


def _refuse(message: str) -> int:
    print(f'error: {message}', file=sys.stderr)
    return 2


def _cheap_checks(args, raw_path: str) -> str:
    """Refusals read from the arguments and the file system alone (no model
    built, nothing measured): a problem line, else ''."""
    if args.gpu_json:
        try:
            with open(args.gpu_json) as f:
                json.load(f)
        except (OSError, ValueError) as err:  # missing, not JSON
            return f'cannot read the --gpu-json file: {err}'
    scales = args.memory_scales
    if len(set(scales)) < 2 or not all(0 < s <= 1 for s in scales):
        return (f'--memory-scales needs two or more different scales in '
                f'(0, 1], got {scales}')
    if args.report_only and not osp.isfile(raw_path):
        return (f'--report-only: no records of an earlier run in the work '
                f'dir ({raw_path} does not exist)')
    return ''


def main(argv=None) -> int:
    args = parse_args(argv)
    if not osp.isfile(args.config):
        return _refuse(f'no config file {args.config}')
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    from mmengine.config import Config, DictAction  # noqa: F401

    from mmbdl.utils import register_all_modules
    from rehearsal import config_setup, planning, report, running

    name = osp.splitext(osp.basename(args.config))[0]
    work_dir = osp.abspath(args.work_dir or
                           config_setup.default_work_dir(args.config))
    data_root = osp.abspath(args.data_root or osp.join(work_dir, 'data'))
    raw_path = osp.join(work_dir, 'rehearsal_raw.json')
    problem = _cheap_checks(args, raw_path)
    if problem:
        return _refuse(problem)
    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(config_setup.parse_options(args.cfg_options))
    try:
        source = config_setup.source_dataset(cfg)
    except ValueError as err:  # not a GTA5 / SYNTHIA config
        return _refuse(str(err))
    full_train_cfg = cfg.train_cfg.to_dict()

    if args.plan_only:
        device_flops = planning.measure_device(args)
        previous = report.load_previous(work_dir)
        result = planning.plan_only(cfg, args, source, full_train_cfg,
                                    device_flops, previous)
        if args.memory:
            result['memory'] = planning.estimate_memory(
                cfg, args, source, planning.probe_device())
        print(report.plan_text(result))
        return 0

    if args.report_only:
        device_flops = planning.measure_device(args)
        with open(raw_path) as f:
            raw = json.load(f)
        if 'check_seconds_per_file' not in raw['data'] and osp.isdir(
                data_root):  # records of a run before this was measured
            raw['data']['check_seconds_per_file'] = \
                planning.measure_check_costs(data_root)
        result = report.assemble(args, name, source, full_train_cfg,
                                 raw['data'], raw['phases'],
                                 raw['checkpoints'], device_flops,
                                 raw['needs'], raw['wall'], work_dir,
                                 raw.get('stopped', ''))
        report.write(result, work_dir)
        print(report.markdown(result))
        return 0

    # the disk first (seconds: the weights counted on the meta device),
    # then the memory model (probe steps; minutes for the paper models)
    needs = planning.estimate_disk_needs(cfg, args, source, data_root)
    problem = planning.check_disk(needs, work_dir)
    if problem:
        return _refuse(problem)
    needs.update(planning.estimate_memory_needs(cfg, args, source))
    problem = planning.check_memory(needs)
    if problem:
        return _refuse(problem)
    os.makedirs(work_dir, exist_ok=True)
    device_flops = planning.measure_device(args)

    from rehearsal.synthetic_data import write_synthetic_sets
    print(f'[rehearse] synthetic data: {args.images} images per split at '
          f'real sizes in {data_root}', flush=True)
    data = write_synthetic_sets(data_root, source, args.images)
    data['check_seconds_per_file'] = planning.measure_check_costs(data_root)
    cfg = config_setup.rehearsal_config(cfg, args, data_root, work_dir)
    started = time.perf_counter()
    phases, checkpoints, stopped = running.run(cfg, args)
    wall = time.perf_counter() - started
    with open(raw_path, 'w') as f:  # the records survive a report bug
        json.dump(dict(data=data, phases=phases, checkpoints=checkpoints,
                       needs=needs, wall=wall, stopped=stopped), f,
                  default=str)
    result = report.assemble(args, name, source, full_train_cfg, data,
                             phases, checkpoints, device_flops, needs,
                             wall, work_dir, stopped)
    report.write(result, work_dir)
    if not args.keep_data:
        for path in running.bulky_outputs(phases):
            shutil.rmtree(path, ignore_errors=True)
    print(report.markdown(result))
    print(f'[rehearse] wrote {osp.join(work_dir, "rehearsal.md")} and '
          'rehearsal.json')
    return 1 if stopped else 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print('\ninterrupted: the synthetic data set is only trusted once '
              'its .complete marker exists; rerun to continue',
              file=sys.stderr)
        sys.exit(130)
    except json.JSONDecodeError as err:  # a broken --gpu-json
        sys.exit(f'error: cannot read the --gpu-json file: {err}')
