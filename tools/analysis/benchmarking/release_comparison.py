"""``benchmark_segmentor.py --compare-release``: mmbdl's adversarial step
against the release's, interleaved and repeated in one process; the parity
verdict compares the fp32 variant (the release's numerics)."""
import contextlib
import copy
import statistics
import time
from typing import Callable, Dict

import torch

from .release_step import ReleaseStep
from .segmentor_batch import make_batch
from rehearsal.device import conv_throughput
from rehearsal.flop_count import TotalFlopCounter

CAFFE_MEAN = torch.tensor([104.00699, 116.66877, 122.67891]).view(1, 3, 1, 1)


def _release_inputs(batch: Dict, device: str):
    """The release's tensors for the same images (BGR minus the mean)."""
    src = batch['inputs']['source'][0].float().unsqueeze(0) - CAFFE_MEAN
    trg = batch['inputs']['target'][0].float().unsqueeze(0) - CAFFE_MEAN
    lbl = batch['data_samples']['source'][0].gt_sem_seg.data.long()
    return src.to(device), lbl.to(device), trg.to(device)


def _flops(fn: Callable) -> int:
    with TotalFlopCounter() as counter:
        fn()
    return counter.get_total_flops()


def compare_with_release(model, optim, args) -> int:
    """Time mmbdl's variants and the release step; print one table.

    Args:
        model: The ``AdvSelfTrainingSegmentor`` (adversarial step).
        optim: Its ``OptimWrapperDict``.
        args: ``compare_release``, ``repeats``, ``variants``, ``device``,
            sizes (``make_batch`` of benchmark_segmentor).

    Returns:
        int: Exit status.
    """
    device = args.device
    model.adversarial = True
    batch = make_batch(args, model.num_classes)
    release = ReleaseStep(args.compare_release, model.num_classes, device)
    src, lbl, trg = _release_inputs(batch, device)

    def mmbdl_step(autocast: bool) -> Callable:
        def step():
            ctx = torch.autocast(device_type=device.split(':')[0],
                                 dtype=torch.bfloat16) if autocast else \
                contextlib.nullcontext()
            with ctx:
                model.train_step(copy.deepcopy(batch), optim)
        return step

    def set_channels_last(on: bool) -> None:
        fmt = torch.channels_last if on else torch.contiguous_format
        model.to(memory_format=fmt)

    steps = {}
    for variant in args.variants:
        steps[f'mmbdl {variant}'] = (variant, mmbdl_step(variant == 'bf16'))
    steps['release'] = (None, lambda: release(src, lbl, trg))

    flops = {}
    for name, (variant, fn) in steps.items():
        set_channels_last(variant == 'channels_last')
        fn()  # warm-up
        flops[name] = _flops(fn)
    times = {name: [] for name in steps}
    for _ in range(args.repeats):  # interleaved: the load is shared
        for name, (variant, fn) in steps.items():
            set_channels_last(variant == 'channels_last')
            if device.startswith('cuda'):
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn()
            if device.startswith('cuda'):
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - start)
    set_channels_last(False)
    throughput = conv_throughput(device)
    ref = statistics.median(times['release'])
    print(f'source {tuple(args.source_size)}, target '
          f'{tuple(args.target_size)} (w, h), {args.repeats} interleaved '
          f'rounds, {torch.get_num_threads()} threads, device {device}; '
          f'measured conv throughput {throughput / 1e9:.0f} GFLOP/s')
    print('| step | GFLOP | median s | min s | / release (median) | share '
          'of FLOP floor |')
    print('| --- | --- | --- | --- | --- | --- |')
    for name in steps:
        med = statistics.median(times[name])
        floor = flops[name] / throughput
        print(f'| {name} | {flops[name] / 1e9:,.1f} | {med:.2f} | '
              f'{min(times[name]):.2f} | {med / ref:.2f}x | '
              f'{100 * floor / med:.0f}% |')
    print(parity_verdict({name: statistics.median(times[name])
                          for name in steps}))
    return 0


def parity_verdict(medians: Dict[str, float]) -> str:
    """The parity line: mmbdl's fp32 step against the release's.

    The release trains in fp32, so only the fp32 variant (same numerics)
    decides parity; the other variants are listed with their ratio.

    Args:
        medians (dict[str, float]): Median seconds per step name
            (``'release'``, ``'mmbdl fp32'``, ...).

    Returns:
        str: The verdict line.
    """
    ref = medians['release']
    others = ', '.join(f'{name[len("mmbdl "):]} {t / ref:.2f}x'
                       for name, t in medians.items()
                       if name not in ('release', 'mmbdl fp32'))
    tail = f'; other variants (not parity): {others}' if others else ''
    if 'mmbdl fp32' not in medians:
        return ('no parity verdict: the fp32 variant was not timed (add '
                f'--variants fp32){tail}')
    ratio = medians['mmbdl fp32'] / ref
    verdict = 'parity' if ratio <= 1.05 else 'slower'
    return (f'mmbdl fp32 / release: {ratio:.2f}x ({verdict}; <= 1.05x '
            f'counts as parity){tail}')
