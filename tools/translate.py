r"""Translate a source image folder with a trained translator (F).

Writes ``<out-dir>/<rel>.png`` for every ``<img-dir>/<rel>.<ext>`` (same
size as the input at ``--scale``), skips files a previous run finished and
writes ``<out-dir>/.complete.json`` last. The result plugs into the
translated-source data set (``UDADataset(translated_source_dir=...)``) with
the original labels.

Examples:
    CFG=configs/bdl/cyclegan-perceptual_deeplabv2-r101_1xb4-20e_\
gta5-to-cityscapes-452x452.py
    python tools/translate.py $CFG work_dirs/translator/iter_124840.pth \
        --out-dir data/gta5_translated --show 8
    # 4 GPUs, the files split among them
    torchrun --nproc_per_node 4 tools/translate.py CONFIG CKPT \
        --out-dir OUT --launcher pytorch

The image folder, suffix and resolution default to the config's
``translate_cfg`` (``img_dir``, ``img_suffix``, ``scale``); the checkpoint
may be a translator checkpoint or one of a whole BDL run (its
``translator`` is used).
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        description='Translate a source image folder with a trained '
        'translator')
    parser.add_argument('config', help='translator or BDL config file')
    parser.add_argument('checkpoint', help='checkpoint holding the translator')
    parser.add_argument('--out-dir', required=True,
                        help='output folder of the translated images')
    parser.add_argument('--img-dir', help='source image folder (default: '
                        "the config's translate_cfg.img_dir)")
    parser.add_argument('--img-suffix', help='ending of the images to '
                        "translate (default: translate_cfg.img_suffix or "
                        "'.png')")
    parser.add_argument('--scale', type=int, nargs=2, metavar=('W', 'H'),
                        help='resize every image to W x H before '
                        'translating (default: translate_cfg.scale, else '
                        'keep sizes)')
    parser.add_argument('--batch-size', type=int, default=None,
                        help='images per generator call (default: '
                        'translate_cfg.batch_size or 1)')
    parser.add_argument('--num-workers', type=int, default=4,
                        help='threads reading and writing images')
    parser.add_argument('--target-domain', default='target',
                        help='output domain of the generator')
    parser.add_argument('--device', default=None,
                        help='e.g. cuda:0 or cpu (default: cuda if '
                        'available)')
    parser.add_argument('--allow-partial', action='store_true',
                        help='translate with a checkpoint that lacks some '
                        'of the generators\' weights (warning; refused '
                        'otherwise)')
    parser.add_argument('--show', type=int, default=0, metavar='N',
                        help='also write a side-by-side sheet of N samples')
    parser.add_argument('--show-path', help='where to write the sheet '
                        '(default: <out-dir>_samples.png)')
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


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    from mmengine.logging import MMLogger

    from mmbdl.apis.translator_loading import load_translator
    from mmbdl.engine.translation import (list_images, make_sample_sheet,
                                          translate_directory,
                                          write_png_atomic)
    from mmbdl.utils.errors import ConfigCheckError, MissingFileError
    from mmbdl.utils.launch import setup_tool

    if not osp.isfile(args.checkpoint):  # before the process group is set up
        raise MissingFileError(f'checkpoint {args.checkpoint} does not exist')
    cfg, rank, device = setup_tool(args.config, args.cfg_options,
                                   args.launcher, args.device)
    if not MMLogger.check_instance_created('mmbdl-translate'):
        MMLogger.get_instance('mmbdl-translate', log_level='INFO')

    tcfg = dict(cfg.get('translate_cfg', None) or {})
    img_dir = args.img_dir or tcfg.get('img_dir')
    if img_dir is None:
        raise ConfigCheckError(f'{args.config} has no translate_cfg.img_dir; '
                               'pass --img-dir')
    img_suffix = args.img_suffix or tcfg.get('img_suffix', '.png')
    scale = args.scale or tcfg.get('scale')
    batch_size = args.batch_size or tcfg.get('batch_size', 1)
    list_images(img_dir, img_suffix)  # clear error before loading the model

    translator = load_translator(cfg, args.checkpoint, device,
                                 args.allow_partial)
    translate_directory(
        translator, img_dir, args.out_dir, img_suffix=img_suffix,
        scale=scale, batch_size=batch_size, num_workers=args.num_workers,
        target_domain=args.target_domain,
        extra_meta=dict(checkpoint=osp.abspath(args.checkpoint),
                        config=osp.abspath(args.config)))

    if args.show > 0 and rank == 0:
        rels = list_images(img_dir, img_suffix)
        count = min(args.show, len(rels))
        picks = [rels[round(i * (len(rels) - 1) / max(count - 1, 1))]
                 for i in range(count)]
        sheet = make_sample_sheet(img_dir, args.out_dir, picks, scale)
        show_path = args.show_path or args.out_dir.rstrip('/') + \
            '_samples.png'
        write_png_atomic(sheet, show_path)
        print(f'sample sheet: {show_path}')


if __name__ == '__main__':
    from mmbdl.utils import run_cli
    run_cli(main)
