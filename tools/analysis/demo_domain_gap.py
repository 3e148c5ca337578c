"""Measure the domain gap of the demo data with a small segmentation model.

Trains the same tiny MMSegmentation model (ResNet-18-style backbone with 16
base channels, output stride 8 without dilation (dilated convolutions are slow
on CPU), FCN head; Caffe normalisation)
on CPU, through the real data sets, pipelines, preprocessor and
``BDLIoUMetric``, and evaluates on the demo target val split:

- ``source``: trained on the source set (GTA5 layout) = source only;
- ``target``: trained on the labelled target train split (oracle);
- ``source-target-style`` (``--with-oracle-translation``): the source layouts
  rendered in the target style, i.e. what a perfect translator would give.

Usage:
    python tools/analysis/demo_domain_gap.py [--data-root data/demo]
        [--iters 600] [--out work_dirs/demo_gap.json]
"""
import argparse
import json
import os
import os.path as osp
import shutil
import sys
import time

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))

from mmengine.config import Config, ConfigDict  # noqa: E402
from mmengine.dataset import pseudo_collate  # noqa: E402

from mmbdl.registry import DATASETS, METRICS, MODELS  # noqa: E402
from mmbdl.utils import register_all_modules  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CAFFE = dict(
    type='SegDataPreProcessor',
    mean=[104.00699, 116.66877, 122.67891],
    std=[1.0, 1.0, 1.0],
    bgr_to_rgb=False,
    size_divisor=1,
    pad_val=0,
    seg_pad_val=255)


def tiny_segmentor(num_classes: int = 19) -> dict:
    """Config of the small model used for the measurement."""
    return dict(
        type='EncoderDecoder',
        data_preprocessor=CAFFE,
        backbone=dict(
            type='ResNetV1c', depth=18, stem_channels=16, base_channels=16,
            strides=(1, 2, 1, 1), dilations=(1, 1, 1, 1),
            out_indices=(3, ), norm_cfg=dict(type='BN')),
        decode_head=dict(
            type='FCNHead', in_channels=128, in_index=0, channels=64,
            num_convs=1, concat_input=False, dropout_ratio=0.0,
            num_classes=num_classes, norm_cfg=dict(type='BN'),
            align_corners=True,
            loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
        train_cfg=dict(),
        test_cfg=dict(mode='whole'))


def batches(dataset, batch_size: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    while True:
        for idx in torch.randperm(len(dataset), generator=gen).tolist():
            yield idx


def train_and_eval(train_set, val_set, iters: int, batch_size: int,
                   seed: int) -> dict:
    torch.manual_seed(seed)
    model = MODELS.build(ConfigDict(tiny_segmentor()))
    optim = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.PolynomialLR(optim, iters, power=0.9)
    order = batches(train_set, batch_size, seed)
    model.train()
    for _ in range(iters):
        data = pseudo_collate([train_set[next(order)]
                               for _ in range(batch_size)])
        data = model.data_preprocessor(data, training=True)
        losses = model(**data, mode='loss')
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        optim.zero_grad()
        loss.backward()
        optim.step()
        sched.step()
    model.eval()
    metric = METRICS.build(dict(type='BDLIoUMetric', num_classes=19))
    metric.dataset_meta = val_set.metainfo
    with torch.no_grad():
        for i in range(len(val_set)):
            batch = pseudo_collate([val_set[i]])
            outs = model.val_step(batch)
            metric.process(batch, [o.to_dict() for o in outs])
    return metric.evaluate(len(val_set))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default='data/demo')
    parser.add_argument('--iters', type=int, default=600)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--with-oracle-translation', action='store_true')
    parser.add_argument('--out', default='work_dirs/demo_gap.json')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    register_all_modules()
    from mmbdl.datasets.demo import make_demo_data
    summary = make_demo_data(args.data_root)
    cfg_dir = osp.join(ROOT, 'configs', '_base_', 'datasets')
    src_cfg = Config.fromfile(osp.join(cfg_dir, 'demo_source.py'))
    tgt_cfg = Config.fromfile(osp.join(cfg_dir, 'demo_target.py'))
    src_ds = src_cfg.train_dataloader.dataset
    src_ds.data_root = osp.join(args.data_root, 'gta5')
    tgt_ds = tgt_cfg.train_dataloader.dataset
    tgt_ds.data_root = osp.join(args.data_root, 'cityscapes')
    val_ds = tgt_cfg.val_dataloader.dataset
    val_ds.data_root = osp.join(args.data_root, 'cityscapes')
    val_set = DATASETS.build(val_ds)
    runs = [('source', src_ds), ('target', tgt_ds)]
    if args.with_oracle_translation:
        styled = args.data_root.rstrip('/') + '_source_in_target_style'
        _write_styled_source(args.data_root, styled, summary)
        styled_ds = src_ds.copy()
        styled_ds.data_root = styled
        runs.append(('source-target-style', styled_ds))
    results = {}
    for name, ds_cfg in runs:
        start = time.time()
        metrics = train_and_eval(DATASETS.build(ds_cfg), val_set, args.iters,
                                 args.batch_size, args.seed)
        results[name] = dict(
            mIoU=metrics['mIoU'], aAcc=metrics['aAcc'],
            per_class={k[4:]: v for k, v in metrics.items()
                       if k.startswith('IoU.') and v == v},
            seconds=round(time.time() - start, 1))
        print(f'{name}: mIoU {metrics["mIoU"]:.2f} aAcc {metrics["aAcc"]:.2f}'
              f' ({results[name]["seconds"]} s)', flush=True)
    results['gap_mIoU'] = round(results['target']['mIoU'] -
                                results['source']['mIoU'], 2)
    results['settings'] = dict(iters=args.iters, batch_size=args.batch_size,
                               seed=args.seed, data=summary)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(results, f, indent=1)
    print(f'target-trained minus source-only: {results["gap_mIoU"]} mIoU '
          f'points; details in {args.out}')


def _write_styled_source(data_root: str, out: str, summary: dict) -> None:
    """Source layouts rendered in the target style (GTA5 layout), with the
    set's demo data version's source layout and target rendering."""
    import numpy as np
    from PIL import Image

    from mmbdl.datasets.demo import LAYOUTS, draw_layout, render
    if osp.exists(out):
        shutil.rmtree(out)
    shutil.copytree(osp.join(data_root, 'gta5'), out)
    width, height = summary['size']
    version = summary['version']
    for i in range(summary['num_source']):
        rng = np.random.default_rng([summary['seed'], i, 0])
        ids, inst = draw_layout(rng, width, height,
                                LAYOUTS[version]['source'])
        img = render(ids, inst, rng, 'target', portable=version >= 3)
        Image.fromarray(img).save(osp.join(out, 'images', f'{i:05d}.png'))


if __name__ == '__main__':
    main()
