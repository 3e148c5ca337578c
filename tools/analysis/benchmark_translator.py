r"""Benchmark the translator F: train-step time with and without the
perceptual loss (same model, same run) and translation throughput.

By default it builds the paper's generator/discriminator (9-block ResNet,
70x70 PatchGAN) with a small perceptual segmentor M (2-stage ResNet, 1/8
output stride, 19 classes) on small crops, which runs on a CPU. ``--config``
uses a translator config's model instead (e.g. with the DeepLabV2-R101 M on
a GPU).

Examples:
    python tools/analysis/benchmark_translator.py --crop 128 --iters 3
    python tools/analysis/benchmark_translator.py --device cuda --crop 452 \
        --batch-size 4 --translate-size 1280 720 --translate-images 64
"""
import argparse
import copy
import os
import os.path as osp
import sys
import tempfile
import time
from typing import Callable

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))

SMALL_M = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor', mean=[104.00699, 116.66877, 122.67891],
        std=[1.0, 1.0, 1.0], bgr_to_rgb=False),
    backbone=dict(
        type='ResNetV1c', depth=18, num_stages=2, out_indices=(1, ),
        strides=(1, 2), dilations=(1, 1), norm_cfg=dict(type='BN')),
    decode_head=dict(
        type='FCNHead', in_channels=128, in_index=0, channels=64, num_convs=1,
        num_classes=19, concat_input=False, norm_cfg=dict(type='BN'),
        loss_decode=dict(type='CrossEntropyLoss')),
    train_cfg=dict(), test_cfg=dict(mode='whole'))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', help='translator config (default: the '
                        'base translator with a small M)')
    parser.add_argument('--device', default=None,
                        help='cpu or cuda (default: cuda if available)')
    parser.add_argument('--crop', type=int, default=128,
                        help='training crop side')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--gen-blocks', type=int, default=9,
                        help='residual blocks of the generators')
    parser.add_argument('--gen-channels', type=int, default=64)
    parser.add_argument('--m-depth', type=int, default=18,
                        choices=[18, 50, 101],
                        help='depth of the perceptual ResNet: 18 = small '
                        '2-stage net; 50/101 = dilated output-stride-8 '
                        'ResNet like DeepLabV2')
    parser.add_argument('--iters', type=int, default=3,
                        help='timed train steps per setting')
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--translate-size', type=int, nargs=2,
                        default=(256, 144), metavar=('W', 'H'))
    parser.add_argument('--translate-images', type=int, default=8)
    parser.add_argument('--translate-batch', type=int, default=1)
    return parser.parse_args()


def build_model(args):
    from mmengine.config import Config

    from mmbdl.registry import MODELS
    repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    if args.config:
        cfg = Config.fromfile(args.config).model.to_dict()
    else:
        cfg = copy.deepcopy(Config.fromfile(osp.join(
            repo, 'configs/_base_/models/cyclegan_perceptual.py'))
            .translator.to_dict())
        cfg['perceptual_model'] = copy.deepcopy(SMALL_M)
        if args.m_depth != 18:
            cfg['perceptual_model'].update(
                backbone=dict(
                    type='ResNetV1c', depth=args.m_depth, num_stages=4,
                    out_indices=(3, ), strides=(1, 2, 1, 1),
                    dilations=(1, 1, 2, 4), norm_cfg=dict(type='BN')),
                decode_head=dict(
                    type='FCNHead', in_channels=2048, in_index=0,
                    channels=2048, num_convs=0, num_classes=19,
                    concat_input=False, norm_cfg=dict(type='BN'),
                    loss_decode=dict(type='CrossEntropyLoss')))
        cfg['generator'].update(num_blocks=args.gen_blocks,
                                base_channels=args.gen_channels)
    cfg['perceptual_checkpoint'] = None
    model = MODELS.build(cfg)
    model.init_weights()
    model.load_perceptual_weights(model.perceptual_model.state_dict())
    return model.to(args.device)


def timed(fn: Callable, device: str, iters: int, warmup: int) -> float:
    import torch
    for _ in range(warmup):
        fn()
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / iters


def main():
    args = parse_args()
    import numpy as np
    import torch
    from mmagic.structures import DataSample
    from mmengine import MessageHub
    from mmengine.optim import OptimWrapper, OptimWrapperDict
    from PIL import Image

    from mmbdl.engine.translation import ImageTranslator, translate_directory
    from mmbdl.utils import register_all_modules

    register_all_modules()
    if args.device is None:
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    torch.manual_seed(0)
    model = build_model(args)
    model.train()
    optim = OptimWrapperDict(
        generators=OptimWrapper(torch.optim.Adam(
            model.generators.parameters(), lr=2e-4, betas=(0.5, 0.999))),
        discriminators=OptimWrapper(torch.optim.Adam(
            model.discriminators.parameters(), lr=2e-4, betas=(0.5, 0.999))))
    rng = np.random.default_rng(0)
    batch = dict(inputs=[], data_samples=[])
    for _ in range(args.batch_size):
        imgs = {f'img_{d}': torch.from_numpy(rng.integers(
            0, 256, (3, args.crop, args.crop), dtype=np.uint8))
            for d in ('source', 'target')}
        sample = DataSample()
        sample.set_metainfo(dict(img_source_channel_order='bgr',
                                 img_target_channel_order='bgr'))
        sample.set_tensor_data(imgs)
        batch['inputs'].append(imgs)
        batch['data_samples'].append(sample)
    hub = MessageHub.get_current_instance()
    hub.update_info('iter', 0)

    def step():
        model.train_step(copy.deepcopy(batch), optim)

    lambdas = dict(model.perceptual_loss_cfg)
    results = {}
    for name, on in (('with perceptual', True), ('without perceptual',
                                                 False)):
        model.perceptual_loss_cfg.update(
            lambda_per=lambdas['lambda_per'] if on else 0.0,
            lambda_per_recon=lambdas['lambda_per_recon'] if on else 0.0)
        results[name] = timed(step, args.device, args.iters, args.warmup)
    model.perceptual_loss_cfg.update(lambdas)

    n_gen = sum(p.numel() for p in model.generators['target'].parameters())
    n_m = sum(p.numel() for p in model.perceptual_model.parameters())
    print(f'device: {args.device} ({torch.get_num_threads()} CPU threads'
          + (f', {torch.cuda.get_device_name()}' if args.device.startswith(
              'cuda') else '') + ')')
    print(f'generator params: {n_gen:,}; perceptual model params: {n_m:,}')
    print(f'train step, batch {args.batch_size} x {args.crop}x{args.crop}:')
    for name, sec in results.items():
        print(f'  {name:20s}: {sec * 1000:9.1f} ms')
    ratio = results['with perceptual'] / results['without perceptual']
    print(f'  perceptual overhead : x{ratio:.2f}')

    # translation throughput: generator only, and the whole folder routine
    w, h = args.translate_size
    translate = ImageTranslator(model)
    imgs = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            for _ in range(args.translate_batch)]
    sec = timed(lambda: translate(imgs), args.device, max(2, args.iters), 1)
    print(f'translation {w}x{h}, batch {args.translate_batch}: generator '
          f'{args.translate_batch / sec:.2f} images/s')
    with tempfile.TemporaryDirectory() as tmp:
        src = osp.join(tmp, 'src')
        os.makedirs(src)
        for i in range(args.translate_images):
            path = osp.join(src, f'{i:05d}.png')
            Image.fromarray(rng.integers(0, 256, (h, w, 3),
                                         dtype=np.uint8)).save(path)
        start = time.perf_counter()
        translate_directory(model, src, osp.join(tmp, 'out'),
                            batch_size=args.translate_batch, num_workers=4,
                            progress=False)
        sec = time.perf_counter() - start
    print(f'translate_directory ({args.translate_images} PNGs, read + '
          f'translate + write): {args.translate_images / sec:.2f} images/s')


if __name__ == '__main__':
    main()
