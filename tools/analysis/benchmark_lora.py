"""Full fine-tuning against the frozen-backbone LoRA switch of a ViT config.

For each segmentation phase kind asked for, both variants of the same
config (full: as the config is; LoRA: ``lora_cfg`` set on the DINOv2
backbone, the rest frozen) run one after the other in forked children,
alternating, ``--repeats`` times, so a shared machine slows both alike.
A child builds the whole BDL model and the kind's optimizer wrapper (the
config's ``optim_wrapper`` entry for the kind), then runs warm-up and timed
``train_step`` calls of the kind on random batches at the config's crops
(times ``--scale``). Reported per variant: trainable parameters of M, the
median step time, and the peak memory over the child before the build
(model, optimizer states and the step's activations; CPU: peak RSS,
CUDA: max allocated), with the LoRA / full ratios of the same run.

Example::

    # CONFIG: configs/bdl/bdl_dinov2-vitb14_1xb1-k2n2_gta5-to-cityscapes-
    # 504x504.py (or the ViT-L config)
    python tools/analysis/benchmark_lora.py CONFIG \\
        --kinds source_only adaptation --threads 1
"""
import argparse
import copy
import multiprocessing as mp
import os
import os.path as osp
import sys
import time
from typing import Callable, Dict, List

import torch

# the repository root, for mmbdl (this script's folder, tools/analysis, is
# on sys.path already: the shared code is the rehearsal package)
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))

SOURCE = 'gta5'  # the input sizes of configs without crops (none here)


def parse_args(argv=None):
    from rehearsal.memory_probe import SEGMENTATION_KINDS
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='a BDL config with a DINOv2 M')
    parser.add_argument('--kinds', nargs='+', default=['adaptation'],
                        choices=SEGMENTATION_KINDS,
                        help='phase kinds to time (default adaptation)')
    parser.add_argument('--rank', type=int, default=8,
                        help='LoRA rank (default 8)')
    parser.add_argument('--alpha', type=float,
                        help='LoRA alpha (default: the rank)')
    parser.add_argument('--scale', type=float, default=1.0,
                        help="factor on the config's crop sides (default 1)")
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--iters', type=int, default=2,
                        help='timed steps per child (default 2)')
    parser.add_argument('--repeats', type=int, default=1,
                        help='alternating children per variant (default 1)')
    parser.add_argument('--threads', type=int,
                        help="torch threads (default: torch's)")
    parser.add_argument('--device', default='cuda' if
                        torch.cuda.is_available() else 'cpu')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='key=value config overrides (both variants)')
    return parser.parse_args(argv)


def load_config(args):
    """The config with ``--cfg-options``; an ``error:`` when M is no ViT."""
    from mmengine.config import Config, DictAction
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        parser = argparse.ArgumentParser()
        parser.add_argument('--o', nargs='+', action=DictAction)
        cfg.merge_from_dict(parser.parse_args(
            ['--o', *args.cfg_options]).o)
    try:
        backbone = cfg.model.segmentor.segmentor.backbone
    except AttributeError:
        backbone = {}
    if backbone.get('type') not in ('DINOv2VisionTransformer',
                                    'mmbdl.DINOv2VisionTransformer'):
        raise SystemExit(
            f'error: {args.config}: M has no DINOv2 backbone '
            '(model.segmentor.segmentor.backbone); LoRA is an option of '
            'the DINOv2 configs (configs/bdl/bdl_dinov2-*)')
    return cfg


def variant_model(cfg, lora: dict = None) -> dict:
    """The model config of one variant (``lora``: the backbone's
    ``lora_cfg``; None: full fine-tuning)."""
    model = copy.deepcopy(cfg.model.to_dict())
    model['segmentor']['segmentor']['backbone']['lora_cfg'] = lora
    return model


def time_kind(model_cfg: dict, optim_cfg: dict, kind: str, sizes: dict,
              args) -> Dict[str, float]:
    """Build the model and run the steps of ``kind`` (in the child)."""
    from mmengine import MessageHub
    from mmengine.logging import MMLogger
    from mmengine.optim import build_optim_wrapper

    from mmbdl.engine.runner.phase_kinds import set_model_phase
    from mmbdl.engine.runner.phase_plan import lookup
    from mmbdl.registry import MODELS
    from rehearsal.memory_probe import uda_batch
    logger = MMLogger.get_current_instance()
    logger.setLevel('ERROR')  # the optimizers' per-parameter lines
    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(model_cfg)).to(args.device).train()
    set_model_phase(model, kind)
    module = model.segmentor
    optim = build_optim_wrapper(module, copy.deepcopy(lookup(optim_cfg,
                                                             kind)))
    # M alone (the wrapper also holds D, and the EMA teacher where used)
    trainable = sum(p.numel() for p in module.segmentor.parameters()
                    if p.requires_grad)
    times = []
    for i in range(args.warmup + args.iters):
        data = uda_batch(sizes['source'], sizes['target'], sizes['batch'],
                         int(module.num_classes), kind == 'self_training')
        MessageHub.get_current_instance().update_info('iter', i)
        start = time.perf_counter()
        model.train_step(data, optim)
        if args.device.startswith('cuda'):
            torch.cuda.synchronize()
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
    return dict(trainable=trainable, times=times)


def measured(work: Callable[[], dict], device: str) -> dict:
    """``work``'s result with ``peak_bytes``: its peak over what this
    process held before it."""
    from rehearsal.memory import (peak_rss_bytes, release_memory,
                                  reset_peak_rss, rss_bytes)
    release_memory()
    if device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    elif not reset_peak_rss():
        raise OSError('cannot reset the peak RSS (/proc/self/clear_refs)')
    else:
        before = rss_bytes()
    out = work()
    peak = torch.cuda.max_memory_allocated() if device.startswith('cuda') \
        else peak_rss_bytes()
    return dict(out, peak_bytes=peak - before)


def _child(work: Callable[[], dict], device: str, conn) -> None:
    try:
        conn.send(('ok', measured(work, device)))
    except BaseException as err:  # noqa: BLE001 (reported to the parent)
        conn.send(('error', f'{type(err).__name__}: {err}'))
    finally:
        conn.close()
        os._exit(0)


def in_child(work: Callable[[], dict], device: str) -> dict:
    """:func:`measured` in a forked process on CPU (its own peak RSS); in
    this process on CUDA (a forked child cannot use CUDA; the model is
    released before the next variant's build)."""
    if device.startswith('cuda'):
        return measured(work, device)
    ctx = mp.get_context('fork')
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(work, device, child))
    proc.start()
    child.close()
    status, value = parent.recv()
    proc.join()
    if status != 'ok':
        raise RuntimeError(f'the benchmark step failed: {value}')
    return value


def _median(values: List[float]) -> float:
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] +
                                                values[mid]) / 2


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from mmbdl.utils import register_all_modules
    from rehearsal.memory_probe import _rounded, real_sizes, size_multiple
    from rehearsal.planning import config_input_sizes
    register_all_modules()
    cfg = load_config(args)
    lora = dict(rank=args.rank, alpha=float(args.alpha or args.rank),
                dropout=0.0)
    variants = dict(full=variant_model(cfg), lora=variant_model(cfg, lora))
    inputs = config_input_sizes(cfg, SOURCE)
    sizes = real_sizes(cfg, inputs['source'], inputs['target'],
                       inputs['translation'][0])
    multiple = size_multiple(cfg.model.to_dict())
    for key in ('source', 'target'):
        sizes[key] = _rounded(sizes[key], args.scale, multiple)
    optim_cfg = cfg.optim_wrapper.to_dict()
    print(f'config: {args.config}')
    print(f'device: {args.device}, threads: {torch.get_num_threads()}; '
          f'source {sizes["source"]}, target {sizes["target"]} (w, h), '
          f'batch {sizes["batch"]}; LoRA rank {lora["rank"]}, alpha '
          f'{lora["alpha"]:g}; {args.iters} timed steps after '
          f'{args.warmup} warm-up, {args.repeats} repeat(s)')
    what = 'CUDA max allocated' if args.device.startswith('cuda') else \
        'peak RSS'
    print(f'| kind | variant | trainable M parameters | median step s | '
          f'{what} GB |')
    print('| --- | --- | --- | --- | --- |')
    for kind in args.kinds:
        runs: Dict[str, List[dict]] = {name: [] for name in variants}
        for _ in range(args.repeats):
            for name, model_cfg in variants.items():
                runs[name].append(in_child(
                    lambda m=model_cfg: time_kind(m, optim_cfg, kind,
                                                  sizes, args),
                    args.device))
        summary = {}
        for name, results in runs.items():
            summary[name] = dict(
                trainable=results[0]['trainable'],
                step=_median([t for r in results for t in r['times']]),
                peak=max(r['peak_bytes'] for r in results) / 1e9)
            s = summary[name]
            print(f'| {kind} | {name} | {s["trainable"]:,} | '
                  f'{s["step"]:.2f} | {s["peak"]:.2f} |', flush=True)
        full, low = summary['full'], summary['lora']
        print(f'| {kind} | lora / full | '
              f'{low["trainable"] / full["trainable"]:.4f} | '
              f'{low["step"] / full["step"]:.2f} | '
              f'{low["peak"] / full["peak"]:.2f} |', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
