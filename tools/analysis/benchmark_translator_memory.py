r"""Peak memory and gradients of one translation (F) step, before/after.

Each measurement runs in a fresh subprocess (so the peak RSS is the step's
own): the config's translator (9-block CycleGAN with the perceptual model
M, e.g. DeepLabV2-R101) does one ``train_step`` on random crops; the child
reports its peak RSS (``VmHWM``; CUDA max allocated on a GPU), the step time
and saves the generators' gradients of that step. Variants:

- ``joint``: the perceptual terms backpropagated in one graph with the
  generator loss, the whole batch at once, no checkpointing (mmbdl before
  the memory work);
- ``saving``: one term and ``--chunk`` samples per pass of M, M's residual
  blocks checkpointed, the generator update one sample at a time with the
  generators' residual blocks checkpointed (the defaults now).

Both use the same update order (generators first), seeds and batch, so the
gradients must agree to float tolerance; the script prints the ratio of the
peaks and the largest gradient difference.

Examples:
    python tools/analysis/benchmark_translator_memory.py --batch-sizes 1
    python tools/analysis/benchmark_translator_memory.py \
        --batch-sizes 1 4 --variants saving --crop 452
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO)
DEFAULT_CONFIG = (
    'configs/bdl/bdl_deeplabv2-r101_1xb1-k2n2_gta5-to-cityscapes-1024x512.py')
VARIANTS = dict(joint=dict(perceptual_memory_saving=False),
                saving=dict(perceptual_memory_saving=True))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG,
                        help='BDL or translator config (its translator '
                        'with the perceptual model is used)')
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=[1])
    parser.add_argument('--crop', type=int, default=452)
    parser.add_argument('--variants', nargs='+', default=list(VARIANTS),
                        choices=list(VARIANTS))
    parser.add_argument('--chunk', type=int, default=1,
                        help='samples per pass of M (saving variant)')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--keep', help='folder for the gradient files')
    parser.add_argument('--child', action='store_true',
                        help=argparse.SUPPRESS)
    parser.add_argument('--variant', help=argparse.SUPPRESS)
    parser.add_argument('--batch', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--out', help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _peak_rss() -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) * 1024
    return 0


def translator_cfg(config: str) -> dict:
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    model = cfg.model.to_dict()
    if model.get('type') == 'BDL':
        segmentor = model['segmentor'].get('segmentor', model['segmentor'])
        model = model['translator']
        if 'type' not in (model.get('perceptual_model') or {}):
            # a BDL translator whose M follows the segmentor's config
            model['perceptual_model'] = segmentor
    model['perceptual_checkpoint'] = None
    return model


def child(args) -> None:
    """One train step in this process; writes JSON + gradients to --out."""
    import numpy as np
    import torch
    from mmagic.structures import DataSample
    from mmengine import MessageHub
    from mmengine.optim import OptimWrapper, OptimWrapperDict

    from mmbdl.registry import MODELS
    from mmbdl.utils import register_all_modules

    torch.set_num_threads(args.threads)
    register_all_modules()
    cfg = translator_cfg(args.config)
    cfg.update(VARIANTS[args.variant])
    cfg['perceptual_chunk'] = args.chunk
    cfg['buffer_size'] = 0  # no pool randomness between the variants
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    model.load_perceptual_weights(model.perceptual_model.state_dict())
    model.to(args.device).train()
    optim = OptimWrapperDict(
        generators=OptimWrapper(torch.optim.Adam(
            model.generators.parameters(), lr=2e-4, betas=(0.5, 0.999))),
        discriminators=OptimWrapper(torch.optim.Adam(
            model.discriminators.parameters(), lr=2e-4, betas=(0.5, 0.999))))
    grads = {}
    gen_step = optim['generators'].step

    def capture(**kwargs):
        for name, p in model.generators.named_parameters():
            grads[name] = p.grad.detach().cpu().clone()
        return gen_step(**kwargs)

    optim['generators'].step = capture
    rng = np.random.default_rng(0)
    batch = dict(inputs=[], data_samples=[])
    for _ in range(args.batch):
        imgs = {f'img_{d}': torch.from_numpy(rng.integers(
            0, 256, (3, args.crop, args.crop), dtype=np.uint8))
            for d in ('source', 'target')}
        sample = DataSample()
        sample.set_metainfo(dict(img_source_channel_order='bgr',
                                 img_target_channel_order='bgr'))
        sample.set_tensor_data(imgs)
        batch['inputs'].append(imgs)
        batch['data_samples'].append(sample)
    MessageHub.get_current_instance().update_info('iter', 0)
    rss_before = _peak_rss()
    if args.device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    model.train_step(batch, optim)
    if args.device.startswith('cuda'):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    torch.save(grads, args.out + '.pt')
    result = dict(variant=args.variant, batch=args.batch, crop=args.crop,
                  seconds=seconds, peak_rss=_peak_rss(),
                  rss_before_step=rss_before, threads=args.threads,
                  cuda_max_allocated=torch.cuda.max_memory_allocated()
                  if args.device.startswith('cuda') else None)
    with open(args.out + '.json', 'w') as f:
        json.dump(result, f)


def run_child(args, variant: str, batch: int, out: str) -> dict:
    cmd = [sys.executable, osp.abspath(__file__), '--child', '--config',
           args.config, '--variant', variant, '--batch', str(batch),
           '--crop', str(args.crop), '--chunk', str(args.chunk), '--threads',
           str(args.threads), '--device', args.device, '--out', out]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    proc = subprocess.run(cmd, env=env, cwd=REPO)
    if proc.returncode != 0:
        return dict(variant=variant, batch=batch, failed=proc.returncode)
    with open(out + '.json') as f:
        return json.load(f)


def compare(a: str, b: str):
    import torch
    ga, gb = torch.load(a + '.pt'), torch.load(b + '.pt')
    worst_abs = max((ga[n] - gb[n]).abs().max().item() for n in ga)
    scale = max(g.abs().max().item() for g in ga.values()) or 1.0
    return worst_abs, worst_abs / scale


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.child:
        child(args)
        return
    folder = args.keep or tempfile.mkdtemp(prefix='f_step_memory_')
    os.makedirs(folder, exist_ok=True)
    rows = []
    for batch in args.batch_sizes:
        for variant in args.variants:
            out = osp.join(folder, f'{variant}_b{batch}')
            print(f'[{variant}, batch {batch}] running in a fresh process',
                  flush=True)
            rows.append(run_child(args, variant, batch, out))
            rows[-1]['out'] = out
    print(f'\nF step ({args.config}), {args.crop}x{args.crop} crops, '
          f'{args.threads} thread(s), device {args.device}:')
    print('| variant | batch | step s | peak RSS GB | CUDA max alloc GB |')
    print('| --- | --- | --- | --- | --- |')
    for r in rows:
        if 'failed' in r:
            print(f'| {r["variant"]} | {r["batch"]} | failed (exit '
                  f'{r["failed"]}) | | |')
            continue
        cuda = r.get('cuda_max_allocated')
        print(f'| {r["variant"]} | {r["batch"]} | {r["seconds"]:.1f} | '
              f'{r["peak_rss"] / 1e9:.2f} | '
              f'{"n/a" if cuda is None else f"{cuda / 1e9:.2f}"} |')
    for batch in args.batch_sizes:
        pair = {r['variant']: r for r in rows
                if r['batch'] == batch and 'failed' not in r}
        if len(pair) == 2:
            ratio = pair['joint']['peak_rss'] / pair['saving']['peak_rss']
            worst_abs, worst_rel = compare(pair['joint']['out'],
                                           pair['saving']['out'])
            print(f'batch {batch}: peak RSS joint / saving = x{ratio:.2f}; '
                  f'generator gradients max |diff| {worst_abs:.3e} '
                  f'= {worst_rel:.2e} x the largest gradient')
    if not args.keep:
        for r in rows:
            for ext in ('.pt', '.json'):
                if osp.exists(r['out'] + ext):
                    os.remove(r['out'] + ext)


if __name__ == '__main__':
    main()
