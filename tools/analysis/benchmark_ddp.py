r"""Throughput of 2 distributed processes vs 1, for an M and an F phase.

Builds the config's BDL model in every process, wraps it with the config's
``model_wrapper_cfg`` (``BDLDistributedDataParallel``), builds the phase's
optimizers from the config and times ``train_step`` on random batches of
the printed input sizes: an adaptation step of M (Eq. 1: source and target
passes, the output-space discriminator) and a translation step of F
(CycleGAN + perceptual loss). Each process uses ``--threads`` torch threads
(default 1), gloo on CPU and NCCL on GPUs (one per process). Throughput is
samples per second over all processes, from the slowest rank's median step;
the speed-up is the 2-process throughput over the 1-process one (target
>= 1.7x; on a CPU it needs 2 free cores).

Examples:
    python tools/analysis/benchmark_ddp.py
    python tools/analysis/benchmark_ddp.py --nprocs 1 --backend nccl \
        --device cuda --iters 20 --kinds source_only translation \
        adaptation self_training --source-size 1280 720 \
        --target-size 1024 512 --crop 452 --translation-batch 4 \
        --dtype float16
"""
import argparse
import copy
import json
import os
import os.path as osp
import socket
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
DEFAULT_CONFIG = (
    'configs/bdl/bdl_deeplabv2-r101_1xb1-k2n2_gta5-to-cityscapes-1024x512.py')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', nargs='?', default=DEFAULT_CONFIG)
    parser.add_argument('--kinds', nargs='+',
                        default=['adaptation', 'translation'],
                        choices=['source_only', 'translation', 'adaptation',
                                 'self_training'])
    parser.add_argument('--nprocs', type=int, nargs='+', default=[1, 2],
                        help='process counts to compare (default 1 2)')
    parser.add_argument('--source-size', type=int, nargs=2,
                        default=(320, 180), metavar=('W', 'H'))
    parser.add_argument('--target-size', type=int, nargs=2,
                        default=(256, 128), metavar=('W', 'H'))
    parser.add_argument('--crop', type=int, default=96,
                        help='translation crop side')
    parser.add_argument('--translation-batch', type=int, default=1,
                        help='translation batch per process')
    parser.add_argument('--depth', type=int, default=None,
                        help='override the ResNet depth of M (e.g. 50)')
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--backend', default=None, help='gloo or nccl '
                        '(default: nccl on cuda, else gloo)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--dtype', default='float32',
                        choices=['float32', 'float16', 'bfloat16'],
                        help='float32, or AmpOptimWrapper autocast to float16 '
                        '(--amp\'s default, dynamic loss scaling) or bfloat16 '
                        '(default float32)')
    parser.add_argument('--amp', action='store_const', const='float16',
                        dest='dtype', help='same as --dtype float16')
    parser.add_argument('--json', help='write the results here')
    return parser.parse_args(argv)


def _drop_pretrained(node) -> None:
    if isinstance(node, dict):
        init = node.get('init_cfg')
        if isinstance(init, dict) and init.get('type') == 'Pretrained':
            node['init_cfg'] = None
        for value in node.values():
            _drop_pretrained(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _drop_pretrained(value)


def _peak_rss() -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) * 1024
    return 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _batch(kind: str, args, num_classes: int, seed: int):
    import torch
    from mmagic.structures import DataSample
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    g = torch.Generator().manual_seed(seed)
    if kind == 'translation':
        inputs, samples = [], []
        for _ in range(args.translation_batch):
            imgs = {f'img_{d}': torch.randint(
                0, 256, (3, args.crop, args.crop), dtype=torch.uint8,
                generator=g) for d in ('source', 'target')}
            sample = DataSample()
            sample.set_metainfo(dict(img_source_channel_order='bgr',
                                     img_target_channel_order='bgr'))
            sample.set_tensor_data(imgs)
            inputs.append(imgs)
            samples.append(sample)
        return dict(inputs=inputs, data_samples=samples)

    def branch(size, labelled):
        w, h = size
        img = torch.randint(0, 256, (3, h, w), dtype=torch.uint8,
                            generator=g)
        s = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
        if labelled:
            s.gt_sem_seg = PixelData(data=torch.randint(
                0, num_classes, (1, h, w), generator=g))
        return [img], [s]

    src, src_s = branch(args.source_size, True)
    tgt, tgt_s = branch(args.target_size, kind == 'self_training')
    return dict(inputs=dict(source=src, target=tgt),
                data_samples=dict(source=src_s, target=tgt_s))


def _optim(cfg, model, kind: str, dtype: str):
    from mmengine.optim import build_optim_wrapper

    from mmbdl.engine.runner.phase_plan import lookup
    optim_cfg = copy.deepcopy(lookup(cfg.optim_wrapper, kind))
    if dtype != 'float32':
        for key, sub in optim_cfg.items():
            if isinstance(sub, dict) and 'optimizer' in sub:
                sub['type'] = 'AmpOptimWrapper'
                sub['loss_scale'] = 'dynamic'
                sub['dtype'] = dtype
    module = model.translator if kind == 'translation' else model.segmentor
    return build_optim_wrapper(module, optim_cfg)


def worker(rank: int, world: int, args, port: int, out: dict) -> None:
    import torch
    import torch.distributed as dist
    from mmengine import MessageHub
    from mmengine.config import Config

    from mmbdl.engine.runner.phase_kinds import set_model_phase
    from mmbdl.registry import MODEL_WRAPPERS, MODELS
    from mmbdl.utils import register_all_modules

    torch.set_num_threads(args.threads)
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port),
                      RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    backend = args.backend or ('nccl' if args.device == 'cuda' else 'gloo')
    device = torch.device(f'cuda:{rank}' if args.device == 'cuda' else 'cpu')
    if args.device == 'cuda':
        torch.cuda.set_device(device)
    dist.init_process_group(backend, rank=rank, world_size=world)
    register_all_modules()
    cfg = Config.fromfile(args.config)
    model_cfg = cfg.model.to_dict()
    if args.depth:
        # a perceptual model with follow_segmentor=True follows M by itself
        segs = [model_cfg['segmentor']['segmentor']]
        if 'backbone' in model_cfg['translator']['perceptual_model']:
            segs.append(model_cfg['translator']['perceptual_model'])
        for seg in segs:
            seg['backbone']['depth'] = args.depth
            if args.depth < 50:  # BasicBlocks: 512 output channels
                seg['decode_head']['in_channels'] = 512
    _drop_pretrained(model_cfg)  # timing only: random weights suffice
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    model.translator.load_perceptual_weights(
        model.translator.perceptual_model.state_dict())
    model.to(device)
    wrapper_cfg = dict(cfg.get('model_wrapper_cfg',
                               dict(type='BDLDistributedDataParallel')))
    wrapper_cfg['module'] = model
    if args.device == 'cuda':
        wrapper_cfg['device_ids'] = [rank]
    ddp = MODEL_WRAPPERS.build(wrapper_cfg)
    hub = MessageHub.get_current_instance()
    results = {}
    for kind in args.kinds:
        set_model_phase(model, kind)
        optim = _optim(cfg, model, kind, args.dtype)
        batch = _batch(kind, args, 19, seed=rank)
        times = []
        if args.device == 'cuda':
            torch.cuda.reset_peak_memory_stats()
        for it in range(args.warmup + args.iters):
            hub.update_info('iter', it)
            if args.device == 'cuda':
                torch.cuda.synchronize()
            dist.barrier()
            start = time.perf_counter()
            ddp.train_step(copy.deepcopy(batch), optim)
            if args.device == 'cuda':
                torch.cuda.synchronize()
            if it >= args.warmup:
                times.append(time.perf_counter() - start)
        times.sort()
        median = torch.tensor([times[len(times) // 2]])
        dist.all_reduce(median, op=dist.ReduceOp.MAX)
        per_rank = args.translation_batch if kind == 'translation' else 1
        peak = torch.cuda.max_memory_allocated() if args.device == 'cuda' \
            else _peak_rss()
        results[kind] = dict(step_seconds=median.item(),
                             samples_per_second=world * per_rank /
                             median.item(), peak_bytes=peak,
                             peak_kind='CUDA max allocated'
                             if args.device == 'cuda' else 'peak RSS')
    if rank == 0:
        out.update(results)
    dist.destroy_process_group()


def _run(world: int, args) -> dict:
    import torch.multiprocessing as mp
    manager = mp.Manager()
    out = manager.dict()
    port = _free_port()
    if world == 1:
        worker(0, 1, args, port, out)
    else:
        mp.spawn(worker, args=(world, args, port, out), nprocs=world,
                 join=True)
    return dict(out)


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ['OMP_NUM_THREADS'] = str(args.threads)
    print(f'config: {args.config}')
    print(f'input sizes: M source {tuple(args.source_size)} + target '
          f'{tuple(args.target_size)} (w, h), batch 1 per process; F '
          f'{args.crop}x{args.crop} crops, batch {args.translation_batch} '
          f'per process; {args.threads} thread(s) per process; device '
          f'{args.device}, backend '
          f'{args.backend or ("nccl" if args.device == "cuda" else "gloo")}'
          f', {args.dtype}', flush=True)
    table = {}
    for world in args.nprocs:
        table[world] = _run(world, args)
        for kind, r in table[world].items():
            print(f'  {world} process(es), {kind}: median step '
                  f'{r["step_seconds"]:.3f} s, {r["samples_per_second"]:.3f}'
                  ' samples/s', flush=True)
    result = dict(args={k: v for k, v in vars(args).items()}, table=table)
    if 1 in table and 2 in table:
        print('| phase kind | 1 process samples/s | 2 processes samples/s | '
              'speed-up (target >= 1.7x) |')
        print('| --- | --- | --- | --- |')
        result['speedup'] = {}
        for kind in args.kinds:
            one = table[1][kind]['samples_per_second']
            two = table[2][kind]['samples_per_second']
            result['speedup'][kind] = two / one
            print(f'| {kind} | {one:.3f} | {two:.3f} | {two / one:.2f}x |')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=2, default=str)
    return 0


if __name__ == '__main__':
    sys.exit(main())
