"""Draw one picture of a BDL run: what F made of the source and what M sees.

One column per target val scene (``--num-scenes``, evenly spaced over the
sorted val set, so the choice is fixed), one row per picture, each row
captioned on its left:

- ``source scene``: a source image as the run translates it into S' (the
  ``SourceTranslationHook``'s ``img_dir`` / ``scale``, else
  ``translate_cfg``), also evenly spaced over the sorted source images;
- ``F(k)(source)``: its translation by the translator of every translation
  phase whose checkpoint (``k<k>_translation.pth``) is in the work dir;
- with ``--compare-translator CHECKPOINT``: the same source images
  translated by another run's F (e.g. the ablation's F trained without the
  perceptual loss), captioned ``--compare-caption``, so the two
  translators' drift is seen side by side;
- ``target scene`` and ``target label``: the val image and its ground
  truth (class colours of the val set, Cityscapes for the BDL settings;
  ignore = black);
- ``M(0)``: the prediction of the source-only phase (``k0_source_only.pth``);
- ``final M``: that of the last segmentation phase of the plan whose
  checkpoint exists (its name under the caption).

Predictions follow the config's evaluation (val pipeline, the segmentor's
test mode); every tile is the val image's size times ``--scale`` (nearest
neighbours when enlarging). The PNG is written atomically.

Usage:
    python tools/analysis/demo_grid.py CONFIG WORK_DIR [--out PATH]
        [--num-scenes 4] [--scale 2] [--device cpu]
        [--compare-translator CHECKPOINT [--compare-caption TEXT]]
Example (the end of ``make demo``):
    python tools/analysis/demo_grid.py configs/bdl/bdl_demo.py \\
        work_dirs/bdl_demo
"""
import argparse
import copy
import os.path as osp
import sys
from typing import List, Optional, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        description='Grid PNG of a BDL run: source, F(k)(source), target, '
        'label, M(0) and final M predictions')
    parser.add_argument('config', help='config file of the run')
    parser.add_argument('work_dir', help='work dir of the run (its phase '
                        'checkpoints)')
    parser.add_argument('--out', help='output PNG (default: '
                        'WORK_DIR/demo_grid.png)')
    parser.add_argument('--num-scenes', type=int, default=4,
                        help='columns: target val scenes (default 4)')
    parser.add_argument('--scale', type=float, default=2.0,
                        help='tile size = val image size x SCALE (default 2)')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument('--compare-translator', metavar='CHECKPOINT',
                        help='a phase checkpoint of another run (same '
                        'config) whose F translates the same source images '
                        'in a row of its own, e.g. the ablation\'s '
                        'no_perceptual/seed_0/k1_translation.pth')
    parser.add_argument('--compare-caption', default=None,
                        help='caption of that row (default: F(compared) and '
                        'the checkpoint\'s file name)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value (as the '
                        'run was trained with)')
    return parser.parse_args(argv)


def planned_phases(cfg) -> list:
    """The phases of the config's plan (Algorithm 1), in order."""
    from mmbdl.engine.runner.phase_plan import (plan_from, plan_kinds,
                                                resolve_plan_entries)
    train_cfg = cfg.get('train_cfg') or {}
    entries = resolve_plan_entries(train_cfg.get('plan'),
                                   train_cfg.get('num_ssl_rounds'),
                                   train_cfg.get('source_only'))
    return plan_from(int(train_cfg.get('num_rounds', 2)), entries,
                     {kind: 1 for kind in plan_kinds(entries)})


def pick(count: int, total: int) -> List[int]:
    """``count`` indices evenly spread over ``range(total)`` (both ends)."""
    return [round(i * (total - 1) / max(count - 1, 1)) for i in range(count)]


def checkpoints(cfg, config: str, work_dir: str):
    """Translation checkpoints, M(0)'s and the final M's ``(phase, path)``.

    Raises:
        MissingFileError: For a missing work dir or M(0) checkpoint.
    """
    from mmbdl.utils.errors import MissingFileError
    train = f'python tools/train.py {config} --work-dir {work_dir}'
    if not osp.isdir(work_dir):
        raise MissingFileError(f'work dir {work_dir} does not exist; train '
                               f'the run first: {train}')
    phases = planned_phases(cfg)

    def found(phase):
        path = osp.join(work_dir, f'{phase.name}.pth')
        return (phase, path) if osp.isfile(path) else None

    translations = [found(p) for p in phases if not p.is_segmentation]
    segmentation = [p for p in phases if p.is_segmentation]
    first = segmentation[0] if segmentation else None
    m0 = None
    if first is not None and first.kind == 'source_only':
        m0 = found(first)
        if m0 is None:
            raise MissingFileError(
                f'{osp.join(work_dir, first.name + ".pth")} (M(0), the '
                'source-only phase) does not exist; train the run first '
                f'({train}) or pass the work dir of a run that has it')
    done = [f for f in map(found, segmentation) if f is not None]
    if not done:
        raise MissingFileError(
            f'{work_dir} holds no segmentation phase checkpoint (e.g. '
            f'{segmentation[0].name if segmentation else "?"}.pth); train '
            f'the run first: {train}')
    final = None if done[-1] == m0 else done[-1]  # only M(0) trained: none
    if segmentation and done[-1][0] is not segmentation[-1]:
        print(f'note: the run is unfinished ({segmentation[-1].name}.pth '
              f'missing): final M is {done[-1][0].name}')
    return [t for t in translations if t is not None], m0, final


def predict(cfg, checkpoint: str, samples: list,
            device: str) -> Tuple[list, int]:
    """Train-id maps of the segmentor in ``checkpoint`` on val samples,
    and its number of classes."""
    import torch
    from mmengine.dataset import pseudo_collate

    from mmbdl.apis.segmentor_loading import load_inference_segmentor
    segmentor = load_inference_segmentor(cfg, checkpoint, device)
    with torch.no_grad():
        preds = [segmentor.test_step(pseudo_collate([copy.deepcopy(s)]))[0]
                 for s in samples]
    num_classes = int(segmentor.decode_head.num_classes)
    del segmentor
    return [p.pred_sem_seg.data[0].cpu().numpy() for p in preds], num_classes


def translate(cfg, checkpoint: str, images: list, target_domain: str,
              device: str) -> list:
    """The source images (BGR) translated by the run's F in ``checkpoint``.
    """
    from mmbdl.apis.translator_loading import load_translator
    from mmbdl.engine.translation import ImageTranslator
    translator = ImageTranslator(load_translator(cfg, checkpoint, device),
                                 target_domain)
    return [translator([img])[0] for img in images]


def build_rows(args) -> Tuple[list, list, List[str]]:
    """The grid's rows of tiles, their captions and the scenes' names."""
    import mmcv

    from mmbdl.apis.bdl_seg_inferencer import dataset_meta_for
    from mmbdl.apis.translator_loading import source_translation_settings
    from mmbdl.engine.translation import list_images, load_image
    from mmbdl.registry import DATASETS
    from mmbdl.utils import load_config, register_all_modules
    from mmbdl.utils.errors import ConfigCheckError, MissingFileError
    from mmbdl.visualization import colourise, fit_tile

    if args.num_scenes < 1 or args.scale <= 0:
        raise ConfigCheckError('--num-scenes must be >= 1 and --scale > 0, '
                               f'got {args.num_scenes} and {args.scale}')
    compare = args.compare_translator
    if compare and not osp.isfile(compare):
        raise MissingFileError(
            f'--compare-translator {compare} does not exist; pass a phase '
            'checkpoint of a run of the same config (e.g. '
            '<ablation work dir>/no_perceptual/seed_0/k1_translation.pth)')
    register_all_modules(init_default_scope=True)
    cfg = load_config(args.config, args.cfg_options)
    translations, m0, final = checkpoints(cfg, args.config, args.work_dir)
    val_cfg = (cfg.get('val_dataloader') or {}).get('dataset')
    if not val_cfg:
        raise ConfigCheckError(f'{args.config} has no val_dataloader.dataset'
                               ': the target val scenes are unknown')
    val_set = DATASETS.build(copy.deepcopy(val_cfg))
    if len(val_set) == 0:
        raise ConfigCheckError(f'the val set of {args.config} is empty')
    count = min(args.num_scenes, len(val_set))
    samples = [val_set[i] for i in pick(count, len(val_set))]
    targets = [mmcv.imread(s['data_samples'].img_path) for s in samples]
    src = source_translation_settings(cfg)
    rels = list_images(src['img_dir'], src['img_suffix'])
    sources = [load_image(osp.join(src['img_dir'], rels[i]), src['scale'],
                          src['interpolation'])
               for i in pick(count, len(rels))]

    h, w = targets[0].shape[:2]
    tile = (max(1, round(w * args.scale)), max(1, round(h * args.scale)))
    rows = [[fit_tile(x, tile) for x in sources]]
    captions = ['source scene']
    compared = [(args.compare_caption
                 or f'F(compared)\n{osp.basename(compare)}', compare)] \
        if compare else []
    for text, path in [(f'F({phase.k})(source)', path)
                       for phase, path in translations] + compared:
        out = translate(cfg, path, sources, src['target_domain'],
                        args.device)
        rows.append([fit_tile(x, tile) for x in out])
        captions.append(text)
    rows.append([fit_tile(x, tile) for x in targets])
    captions.append('target scene')

    models = ([('M(0)', m0[1])] if m0 else []) + \
        ([(f'final M\n{final[0].name}', final[1])] if final else [])
    preds = [(text, *predict(cfg, path, samples, args.device))
             for text, path in models]
    num_classes = preds[0][2]
    meta = dataset_meta_for(cfg, dict(dataset_meta=dict(val_set.metainfo)),
                            num_classes)

    def paint(label):
        return fit_tile(colourise(label, meta['palette']), tile, True)

    if all('gt_sem_seg' in s['data_samples'] for s in samples):
        rows.append([paint(s['data_samples'].gt_sem_seg.data[0].numpy())
                     for s in samples])
        captions.append('target label')
    for text, labels, _ in preds:
        rows.append([paint(x) for x in labels])
        captions.append(text)
    names = [osp.basename(s['data_samples'].img_path) for s in samples]
    return rows, captions, names


def main(argv: Optional[List[str]] = None) -> str:
    args = parse_args(argv)
    from mmbdl.engine.translation import write_png_atomic
    from mmbdl.visualization import compose_grid

    rows, captions, names = build_rows(args)
    out = args.out or osp.join(args.work_dir, 'demo_grid.png')
    write_png_atomic(compose_grid(rows, captions), out)
    print('rows: ' + ', '.join(c.replace('\n', ' ') for c in captions))
    print('scenes: ' + ', '.join(names))
    print(f'demo grid: {out}')
    return out


if __name__ == '__main__':
    from mmbdl.utils import run_cli
    run_cli(main)
