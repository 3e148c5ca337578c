"""Time BDL's adversarial train step against a source-only step.

Both steps run on the same ``AdvSelfTrainingSegmentor`` object in one
process: the source-only step (``adversarial=False``: one segmentor pass,
no D) and the adversarial step of Eq. 1 (source and target segmentor passes,
D on the target in the segmentor step, D step on both). Reports the mean
step time of each, their ratio (target: at most 2.2x) and the peak memory of
each (CUDA: ``max_memory_allocated``; CPU: peak RSS of a forked child
process per step kind, which starts from the built model, so the two peaks
are comparable).

With ``--compare-release PATH`` it instead times the adversarial step of
mmbdl (fp32, channels_last, bf16 autocast) and the release's ``BDL.py``
step (``tools/analysis/benchmarking/release_step.py``) on the same images,
interleaved and repeated, with their FLOPs (``torch.utils.flop_counter``)
and the share of the FLOP floor (FLOPs / this machine's measured
convolution throughput). Parity is judged on the fp32 variant.

Examples::

    # the release's model and sizes (a GPU is advisable)
    python tools/analysis/benchmark_segmentor.py \\
        configs/bdl/adv_deeplabv2-r101_1xb1-80k_gta5-to-cityscapes-1024x512.py
    # a CPU-sized run: ResNet-50 at 1/4 width, small images
    python tools/analysis/benchmark_segmentor.py CONFIG --depth 50 \\
        --base-channels 16 --source-size 320 180 --target-size 256 128
"""
import argparse
import copy
import os.path as osp
import resource
import sys
import time
from typing import Dict

import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapperDict, build_optim_wrapper

# the repository root, for mmbdl (tools/analysis, this script's folder, is
# on sys.path already: the shared code is in its packages)
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))

from benchmarking.segmentor_batch import make_batch  # noqa: E402

DEFAULT_CONFIG = ('configs/bdl/adv_deeplabv2-r101_1xb1-80k_'
                  'gta5-to-cityscapes-1024x512.py')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', nargs='?', default=DEFAULT_CONFIG)
    parser.add_argument('--source-size', type=int, nargs=2,
                        default=(1280, 720), metavar=('W', 'H'))
    parser.add_argument('--target-size', type=int, nargs=2,
                        default=(1024, 512), metavar=('W', 'H'))
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--iters', type=int, default=5,
                        help='timed steps per kind (default 5)')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--depth', type=int, help='override backbone depth')
    parser.add_argument('--base-channels', type=int,
                        help='override backbone width (DeepLabV2ResNet)')
    parser.add_argument('--device', default='cuda' if
                        torch.cuda.is_available() else 'cpu')
    parser.add_argument('--compare-release', metavar='PATH',
                        help='time the adversarial step against the '
                        "release's BDL.py step (model/deeplab.py and "
                        'model/discriminator.py of a local copy of the '
                        'original repository at PATH), interleaved')
    parser.add_argument('--repeats', type=int, default=5,
                        help='interleaved rounds of --compare-release')
    parser.add_argument('--variants', nargs='+',
                        default=['fp32', 'channels_last', 'bf16'],
                        choices=['fp32', 'channels_last', 'bf16'],
                        help='mmbdl variants timed by --compare-release')
    return parser.parse_args(argv)


def build_model(cfg: Config, args) -> torch.nn.Module:
    from mmbdl.registry import MODELS
    model_cfg = copy.deepcopy(cfg.model)
    seg = model_cfg.segmentor
    if args.depth is not None:
        seg.backbone.depth = args.depth
    if args.base_channels is not None:
        seg.backbone.base_channels = args.base_channels
        seg.backbone.stem_channels = args.base_channels
        expansion = 1 if seg.backbone.get('depth', 101) < 50 else 4
        seg.decode_head.in_channels = args.base_channels * 8 * expansion
    return MODELS.build(model_cfg)


def _sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_steps(model, optim, batch, adversarial: bool, args) -> Dict:
    model.adversarial = adversarial
    device = args.device
    if device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
    for _ in range(args.warmup):
        model.train_step(copy.deepcopy(batch), optim)
    _sync(device)
    times = []
    for _ in range(args.iters):
        data = copy.deepcopy(batch)
        start = time.perf_counter()
        model.train_step(data, optim)
        _sync(device)
        times.append(time.perf_counter() - start)
    if device.startswith('cuda'):
        peak = torch.cuda.max_memory_allocated() / 2**20
        what = 'CUDA max allocated'
    else:
        peak = _peak_rss_mib()
        what = 'peak RSS'
    times.sort()
    return dict(mean=sum(times) / len(times), median=times[len(times) // 2],
                peak=peak, peak_kind=what)


def _in_child(model, optim, batch, adversarial: bool, args) -> Dict:
    """Run :func:`time_steps` in a forked process (own peak RSS)."""
    import multiprocessing as mp
    ctx = mp.get_context('fork')
    queue = ctx.Queue()

    def work():
        queue.put(time_steps(model, optim, batch, adversarial, args))

    proc = ctx.Process(target=work)
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmbdl.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(args.config)
    if cfg.model.get('type') != 'AdvSelfTrainingSegmentor':
        print(f'error: {args.config} does not define an '
              'AdvSelfTrainingSegmentor model', file=sys.stderr)
        return 1
    torch.manual_seed(0)
    model = build_model(cfg, args).to(args.device)
    model.train()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    if args.compare_release:
        from benchmarking.release_comparison import compare_with_release
        return compare_with_release(model, optim, args)
    assert isinstance(optim, OptimWrapperDict)
    batch = make_batch(args, model.num_classes)
    if args.device.startswith('cuda'):
        src = time_steps(model, optim, batch, False, args)
        adv = time_steps(model, optim, batch, True, args)
    else:
        src = _in_child(model, optim, batch, False, args)
        adv = _in_child(model, optim, batch, True, args)
    ratio = adv['median'] / src['median']  # robust to a shared CPU
    n_params = sum(p.numel() for p in model.segmentor.parameters())
    print(f'config: {args.config}')
    print(f'device: {args.device}, threads: {torch.get_num_threads()}, '
          f'segmentor parameters: {n_params:,}')
    print(f'source {tuple(args.source_size)}, target '
          f'{tuple(args.target_size)} (w, h), batch {args.batch_size}, '
          f'{args.iters} timed steps after {args.warmup} warm-up')
    print(f'source-only step: {src["mean"] * 1000:.1f} ms (median '
          f'{src["median"] * 1000:.1f}), {src["peak_kind"]} '
          f'{src["peak"]:.0f} MiB')
    print(f'adversarial step: {adv["mean"] * 1000:.1f} ms (median '
          f'{adv["median"] * 1000:.1f}), {adv["peak_kind"]} '
          f'{adv["peak"]:.0f} MiB')
    verdict = 'OK' if ratio <= 2.2 else 'ABOVE TARGET'
    print(f'ratio adversarial / source-only (medians): {ratio:.2f}x '
          f'(target <= 2.2x: {verdict})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
