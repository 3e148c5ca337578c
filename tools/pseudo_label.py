"""Pseudo-label the target training set with a trained segmentor (BDL SSL).

Writes ``<out-dir>/<rel>.png`` (uint8, 255 = ignore) for every target image
``<img_root>/<rel>.<ext>`` (plus ``<rel>.weight.png`` for ``--policy soft``),
the round's statistics (``pseudo_label_stats.json``: per-class thresholds,
kept-pixel ratio overall and per class, accuracy of kept pixels when the
target set has labels) and, last, ``.complete.json``. The folder plugs into
``UDADataset(pseudo_label_dir=...)``.

The target images come from the config's ``pseudo_label_dataloader`` (or the
``dataloader`` of a ``PseudoLabelHook`` in ``custom_hooks``, whose policy and
inference settings are the defaults here). The checkpoint may be one of a
whole BDL run or of a plain segmentor.

Examples:
    python tools/pseudo_label.py CONFIG work_dirs/bdl/k1_self_training_i2.pth \
        --out-dir data/cityscapes_pseudo
    # the paper's fixed threshold instead of the released class-wise median
    python tools/pseudo_label.py CONFIG CKPT --out-dir OUT --policy fixed \
        --threshold 0.9
    # 4 GPUs, images split among them
    torchrun --nproc_per_node 4 tools/pseudo_label.py CONFIG CKPT \
        --out-dir OUT --launcher pytorch
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

POLICIES = ('classwise_median', 'fixed', 'soft', 'top_fraction')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        description='Write pseudo-labels of the target training set')
    parser.add_argument('config', help='config file (BDL or segmentor)')
    parser.add_argument('checkpoint', help='checkpoint with the segmentor')
    parser.add_argument('--out-dir', required=True,
                        help='output folder of the pseudo-labels')
    parser.add_argument('--policy', choices=POLICIES, default=None,
                        help='threshold policy (default: the config\'s '
                        'PseudoLabelHook policy, else classwise_median, the '
                        'released rule)')
    parser.add_argument('--threshold', type=float, default=None,
                        help='the threshold of --policy fixed (default '
                        '0.9), or the cap of classwise_median (default 0.9) '
                        'and top_fraction (default none)')
    parser.add_argument('--fraction', type=float, default=None,
                        help='share of each class kept by top_fraction '
                        '(default 0.5)')
    parser.add_argument('--flip', action='store_true', default=None,
                        help='flip-averaged inference')
    parser.add_argument('--scales', type=float, nargs='+', default=None,
                        help='multi-scale inference factors, e.g. 0.75 1 '
                        '1.25')
    parser.add_argument('--label-size', type=int, nargs=2, default=None,
                        metavar=('H', 'W'), help='size of the written '
                        'labels (default: the network input size)')
    parser.add_argument('--ignore-margin', type=int, nargs=2, default=None,
                        metavar=('TOP', 'BOTTOM'),
                        help='label rows at the top and bottom to ignore')
    parser.add_argument('--batch-size', type=int, default=None,
                        help='images per forward (default: the dataloader '
                        'config\'s)')
    parser.add_argument('--num-workers', type=int, default=None,
                        help='data loading workers')
    parser.add_argument('--cache-dir', default=None,
                        help='folder for the temporary per-image cache (5 '
                        'bytes per label pixel, in a private subfolder that '
                        'is removed at the end; default: inside --out-dir)')
    parser.add_argument('--allow-partial', action='store_true',
                        help='label with a checkpoint that lacks some of '
                        'the segmentor\'s weights (warning; refused '
                        'otherwise)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace a complete round made from another '
                        'checkpoint or with other settings')
    parser.add_argument('--device', default=None,
                        help='e.g. cuda:0 or cpu (default: cuda if '
                        'available)')
    parser.add_argument('--no-progress', action='store_true',
                        help='hide the progress bar')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm',
                                               'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def policy_from_args(args, hook_policy) -> dict:
    """The policy config from the command line and the config's hook.

    Args:
        args (Namespace): Parsed arguments.
        hook_policy (str | dict | None): The config hook's policy.

    Returns:
        dict: ``dict(type=..., **kwargs)``.
    """
    from mmbdl.utils.errors import ConfigCheckError
    if args.policy is None and hook_policy is not None:
        policy = dict(type=hook_policy) if isinstance(hook_policy, str) \
            else dict(hook_policy)
    else:
        policy = dict(type=args.policy or 'classwise_median')
    name = policy['type']
    if args.threshold is not None:
        if name == 'fixed':
            policy['threshold'] = args.threshold
        elif name in ('classwise_median', 'top_fraction'):
            policy['cap'] = args.threshold
        else:
            raise ConfigCheckError(
                f'--threshold does not apply to --policy {name}')
    if args.fraction is not None:
        if name != 'top_fraction':
            raise ConfigCheckError('--fraction applies to --policy '
                                   f'top_fraction only, not {name}')
        policy['fraction'] = args.fraction
    return policy


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    from mmengine.logging import MMLogger

    from mmbdl.apis.segmentor_loading import (build_target_dataset,
                                              dataloader_cfg_from_config,
                                              hook_settings_from_config,
                                              load_inference_segmentor)
    from mmbdl.engine.pseudo_labeling import PseudoLabeler, prepare_round_dir
    from mmbdl.engine.pseudo_labeling.pseudo_labeler import dataset_class_names
    from mmbdl.utils import MissingFileError
    from mmbdl.utils.launch import setup_tool

    # before the process group and the data set (whose check reads every
    # image header) are set up
    if not osp.isfile(args.checkpoint):
        raise MissingFileError(f'checkpoint {args.checkpoint} does not exist')
    cfg, rank, device = setup_tool(args.config, args.cfg_options,
                                   args.launcher, args.device)
    logger = MMLogger.get_instance('mmbdl-pseudo-label', log_level='INFO')

    hook = hook_settings_from_config(cfg)
    dl_cfg = dataloader_cfg_from_config(cfg)
    dataset = build_target_dataset(dl_cfg)
    names = dataset_class_names(dataset)

    def pick(arg, key, default):
        return arg if arg is not None else hook.get(key, default)

    policy = policy_from_args(args, hook.get('policy'))
    segmentor = load_inference_segmentor(cfg, args.checkpoint, device,
                                         allow_partial=args.allow_partial)
    labeler = PseudoLabeler(
        segmentor,
        policy=policy,
        flip=bool(pick(args.flip, 'flip', False)),
        scales=pick(args.scales, 'scales', None),
        label_size=pick(args.label_size, 'label_size', None),
        ignore_margin=pick(args.ignore_margin, 'ignore_margin', (0, 0)),
        data_preprocessor=hook.get('data_preprocessor'))
    labeler.check_num_classes(
        len(names), source=f'{args.config} / {args.checkpoint}')
    img_root = hook.get('img_root') or dataset.data_prefix['img_path']
    signature = dict(fingerprint=labeler.fingerprint(),
                     img_root=osp.abspath(img_root),
                     num_images=len(dataset), **labeler.settings())
    meta = prepare_round_dir(args.out_dir, signature,
                             overwrite=args.overwrite,
                             info=dict(checkpoint=osp.abspath(
                                 args.checkpoint)),
                             logger=logger)
    if meta is not None:
        if rank == 0:
            print(f'{args.out_dir} is already complete for this checkpoint '
                  'and settings; nothing to do')
        return
    meta = labeler.label_dataset(
        dataset,
        args.out_dir,
        batch_size=args.batch_size or int(dl_cfg.get('batch_size', 1)),
        num_workers=args.num_workers if args.num_workers is not None else
        int(dl_cfg.get('num_workers', 0)),
        img_root=img_root,
        cache_dir=args.cache_dir,
        extra_meta=dict(signature=signature,
                        checkpoint=osp.abspath(args.checkpoint),
                        config=osp.abspath(args.config)),
        progress=not args.no_progress,
        logger=logger)
    if rank == 0:
        stats = meta['stats']
        print(f"wrote {meta['num_files']} pseudo-labels to {args.out_dir}; "
              f"kept-pixel ratio {stats['kept_ratio']:.4f}")


if __name__ == '__main__':
    from mmbdl.utils import run_cli
    run_cli(main)
