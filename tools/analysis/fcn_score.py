r"""FCN-score of a translator F: how much of the source semantics survives.

An oracle segmenter trained on the TARGET domain's own labels segments the
source images translated into the target style, F(S), and the score is the
mIoU of its predictions against the source labels (the "FCN-score" of the
CycleGAN and pix2pix papers). A translator that keeps the scene's content
while taking on the target's appearance scores close to the oracle's own
target val mIoU; semantic drift (objects invented, erased or recoloured
into another class) lowers it. The oracle's score on the untranslated
source images ("identity F") is reported beside it as the reference.

- F: the translator of CONFIG (a BDL or translator config), loaded from
  F_CHECKPOINT (a translation phase's checkpoint, e.g.
  ``WORK_DIR/k1_translation.pth``), applied as the run applies it (the
  ``SourceTranslationHook``'s / ``translate_cfg``'s ``scale``,
  ``interpolation`` and ``target_domain``).
- The source set: the images and labels of the source branch of CONFIG's
  ``UDADataset`` (``train_dataloader.dataset.source``: its data root,
  folders and label mapping, labels read by its pipeline's
  ``LoadAnnotations``) at the labels' own resolution.
- The oracle: the inference segmentor of ORACLE_CONFIG loaded from
  ORACLE_CHECKPOINT. It sees each image through its config's test pipeline
  (``LoadAnnotations`` left out) and its probabilities are resized to the
  label's size before the argmax (the config's evaluation rule).
  ORACLE_CONFIG is ``--oracle-config`` when given, else the config recorded
  in ORACLE_CHECKPOINT (MMEngine's runner stores it in ``meta['cfg']``),
  else ``configs/bdl/oracle_demo.py``; the tool prints which one it used.
- The scores follow ``BDLIoUMetric`` / MMSegmentation's ``IoUMetric``: one
  confusion matrix over the whole set, label 255 ignored, a class absent
  from both labels and predictions has IoU NaN (``null`` in the JSON) and
  is left out of the mean; percent, 2 decimals.

Writes a markdown table to stdout and the JSON (atomically) to ``--out``
(default: ``<F_CHECKPOINT without .pth>_fcn_score.json``).

Usage:
    python tools/analysis/fcn_score.py CONFIG F_CHECKPOINT ORACLE_CHECKPOINT
        [--oracle-config ORACLE_CONFIG] [--out JSON] [--device cpu]
        [--allow-partial] [--cfg-options KEY=VALUE ...]
Example (the demo; docs/demo.md, "F's semantic drift: the FCN-score"):
    python tools/train.py configs/bdl/oracle_demo.py \
        --work-dir work_dirs/oracle_demo
    python tools/analysis/fcn_score.py configs/bdl/bdl_demo.py \
        work_dirs/bdl_demo/k1_translation.pth \
        work_dirs/oracle_demo/iter_600.pth
"""
import argparse
import copy
import json
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

DEFAULT_ORACLE_CONFIG = osp.join('configs', 'bdl', 'oracle_demo.py')
ROWS = (('translated', 'F(source)'), ('identity', 'source (identity F)'))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        description='FCN-score of a translator: a target-trained oracle '
        'segments the translated source images, scored against the source '
        'labels')
    parser.add_argument('config', help='BDL (or translator) config of F')
    parser.add_argument('f_checkpoint', help='checkpoint holding F, e.g. '
                        'WORK_DIR/k1_translation.pth')
    parser.add_argument('oracle_checkpoint', help='checkpoint of a '
                        'segmentor trained on the target labels')
    parser.add_argument('--oracle-config', help='config of the oracle '
                        '(default: the config recorded in the oracle '
                        f'checkpoint, else {DEFAULT_ORACLE_CONFIG})')
    parser.add_argument('--out', help='JSON to write (default: '
                        '<F_CHECKPOINT without .pth>_fcn_score.json)')
    parser.add_argument('--device', default=None, help='e.g. cuda:0 or '
                        'cpu (default: cuda if available, else cpu)')
    parser.add_argument('--allow-partial', action='store_true',
                        help='score with checkpoints that lack some of the '
                        "generators' or the oracle's weights (warning; "
                        'refused otherwise)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of CONFIG, key=value (as '
                        'the run was trained with)')
    return parser.parse_args(argv)


def source_dataset_cfg(cfg, config: str) -> dict:
    """The source branch of the config's ``UDADataset``."""
    from mmbdl.utils.errors import ConfigCheckError
    top = (cfg.get('train_dataloader', None) or {}).get('dataset') or {}
    node = top
    while isinstance(node, dict):
        if str(node.get('type', '')).split('.')[-1] == 'UDADataset':
            source = node.get('source')
            if isinstance(source, dict):
                return copy.deepcopy(dict(source))
            break
        node = node.get('dataset')
    raise ConfigCheckError(
        f'{config}: train_dataloader.dataset (type {top.get("type")!r}) has '
        'no UDADataset with a source data set: the source images and labels '
        'are unknown; pass the BDL config the translator was trained with')


def label_loader(source_cfg: dict):
    """The ``LoadAnnotations`` of the source pipeline (its arguments), which
    applies the data set's label mapping; a pipeline without one is
    refused."""
    from mmbdl.registry import TRANSFORMS
    from mmbdl.utils.errors import ConfigCheckError
    for step in source_cfg.get('pipeline') or []:
        if isinstance(step, dict) and \
                str(step.get('type', '')).split('.')[-1] == 'LoadAnnotations':
            return TRANSFORMS.build(copy.deepcopy(dict(step)))
    raise ConfigCheckError(
        'the source pipeline of the UDADataset has no LoadAnnotations, so '
        "the source labels (and the data set's label mapping) are unknown; "
        'pass the BDL config the translator was trained with')


def read_checkpoint(path: str) -> dict:
    """A checkpoint's dict (the file must exist)."""
    from mmengine.runner.checkpoint import _load_checkpoint

    from mmbdl.utils.errors import MissingFileError
    if not osp.isfile(path):
        raise MissingFileError(f'checkpoint {path} does not exist')
    ckpt = _load_checkpoint(path, map_location='cpu')
    return ckpt if isinstance(ckpt, dict) else {}


def require_translator_weights(ckpt: dict, path: str) -> None:
    """Refuse a checkpoint without generator weights (e.g. a plain
    segmentor's), even with ``--allow-partial``."""
    from mmbdl.utils.errors import ConfigCheckError
    state = ckpt.get('state_dict', ckpt)
    if not any('generators.' in str(k) for k in state):
        raise ConfigCheckError(
            f'{path} holds no translator weights (no generators.* keys; a '
            "plain segmentor's checkpoint, e.g. the oracle's?): pass the "
            'checkpoint of a translation phase of the run, e.g. '
            'WORK_DIR/k1_translation.pth')


def oracle_config(option: Optional[str], ckpt: dict,
                  path: str) -> Tuple[object, str]:
    """The oracle's config and where it came from (see the module doc)."""
    from mmengine.config import Config

    from mmbdl.utils.errors import ConfigCheckError, MissingFileError
    if option:
        if not osp.isfile(option):
            raise MissingFileError(f'--oracle-config {option} does not '
                                   'exist')
        return Config.fromfile(option), option
    text = (ckpt.get('meta') or {}).get('cfg')
    if isinstance(text, str) and text.strip():
        try:
            return Config.fromstring(text, '.py'), f'recorded in {path}'
        except Exception as err:  # noqa: BLE001 (any parse failure)
            raise ConfigCheckError(
                f'{path}: the config recorded in the checkpoint cannot be '
                f'read ({type(err).__name__}: {str(err).splitlines()[0]}); '
                'pass --oracle-config') from None
    default = osp.join(ROOT, DEFAULT_ORACLE_CONFIG)
    return Config.fromfile(default), DEFAULT_ORACLE_CONFIG


def scores(conf: np.ndarray, classes: Sequence[str]) -> dict:
    """aAcc, mIoU, mAcc (percent) and per-class IoU of a confusion matrix
    (rows: label, columns: prediction), as ``BDLIoUMetric`` computes them.
    """
    from mmbdl.evaluation.bdl_iou_metric import confusion_scores
    out = confusion_scores(conf)
    iou = np.asarray(out['IoU'], np.float64)

    def pct(value) -> Optional[float]:
        value = float(value)
        return round(value * 100, 2) if np.isfinite(value) else None

    def mean(values) -> Optional[float]:
        values = np.asarray(values, np.float64)
        return pct(np.nanmean(values)) if np.isfinite(values).any() \
            else None

    return dict(aAcc=pct(out['aAcc']), mIoU=mean(iou), mAcc=mean(out['Acc']),
                IoU={name: pct(v) for name, v in zip(classes, iou)})


def markdown(result: dict) -> str:
    """The result as a markdown table: a row per class scored in either
    column, then mIoU, mAcc and aAcc."""

    def cell(value) -> str:
        return 'nan' if value is None else f'{value:.2f}'

    head = [r[1] for r in ROWS]
    lines = ['| class | ' + ' | '.join(head) + ' |',
             '|---|' + '---:|' * len(head)]
    for name in result['classes']:
        values = [result[key]['IoU'][name] for key, _ in ROWS]
        if any(v is not None for v in values):
            lines.append(f'| {name} | ' + ' | '.join(map(cell, values)) +
                         ' |')
    for metric in ('mIoU', 'mAcc', 'aAcc'):
        lines.append(f'| **{metric}** | ' + ' | '.join(
            f'**{cell(result[key][metric])}**' for key, _ in ROWS) + ' |')
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> Dict:
    args = parse_args(argv)
    import torch
    from mmengine.dataset import pseudo_collate
    from mmengine.utils import ProgressBar

    from mmbdl.apis import BDLSegInferencer
    from mmbdl.apis.translator_loading import (load_translator,
                                               source_translation_settings)
    from mmbdl.engine.translation import ImageTranslator, load_image
    from mmbdl.evaluation import BDLIoUMetric
    from mmbdl.registry import DATASETS
    from mmbdl.utils.atomic_write import atomic_open
    from mmbdl.utils.errors import ConfigCheckError
    from mmbdl.utils.launch import setup_tool

    f_ckpt = read_checkpoint(args.f_checkpoint)
    require_translator_weights(f_ckpt, args.f_checkpoint)
    del f_ckpt
    o_ckpt = read_checkpoint(args.oracle_checkpoint)
    cfg, _, device = setup_tool(args.config, args.cfg_options, 'none',
                                args.device)
    o_cfg, o_cfg_source = oracle_config(args.oracle_config, o_ckpt,
                                        args.oracle_checkpoint)
    del o_ckpt
    print(f'oracle config: {o_cfg_source}')
    settings = source_translation_settings(cfg)
    source_cfg = source_dataset_cfg(cfg, args.config)
    dataset = DATASETS.build(source_cfg)
    if len(dataset) == 0:
        raise ConfigCheckError(f'{args.config}: the source data set is '
                               'empty')
    loader = label_loader(source_cfg)

    translate = ImageTranslator(
        load_translator(cfg, args.f_checkpoint, device, args.allow_partial),
        settings['target_domain'])
    oracle = BDLSegInferencer(o_cfg, args.oracle_checkpoint, device=device,
                              allow_partial=args.allow_partial)
    num_classes = int(oracle.model.decode_head.num_classes)
    classes = list(dataset.metainfo.get('classes') or [])
    if len(classes) != num_classes:
        raise ConfigCheckError(
            f'the oracle ({args.oracle_checkpoint}) predicts {num_classes} '
            f'classes but the source data set of {args.config} has '
            f'{len(classes)}; use an oracle trained on the same classes')

    def segment(img: np.ndarray, shape: Tuple[int, int]) -> torch.Tensor:
        data = oracle.pipeline(img)
        # predict at the label's resolution (probabilities resized to it)
        data['data_samples'].set_metainfo(dict(ori_shape=tuple(shape)))
        with torch.no_grad():
            pred = oracle.model.test_step(pseudo_collate([data]))[0]
        return pred.pred_sem_seg.data[0].cpu()

    confusion = {key: np.zeros((num_classes, num_classes), np.int64)
                 for key, _ in ROWS}
    bar = ProgressBar(len(dataset))
    for idx in range(len(dataset)):
        info = dataset.get_data_info(idx)
        if not info.get('seg_map_path'):
            raise ConfigCheckError(
                f'{args.config}: the source data set has no labels '
                "(data_prefix['seg_map_path']); the FCN-score needs them")
        label = torch.from_numpy(np.ascontiguousarray(
            loader(copy.deepcopy(info))['gt_seg_map']))
        img = load_image(info['img_path'], settings['scale'],
                         settings['interpolation'])
        images = dict(translated=translate([img])[0], identity=img)
        for key, _ in ROWS:
            try:
                confusion[key] += BDLIoUMetric.confusion_matrix(
                    segment(images[key], label.shape), label, num_classes)
            except ConfigCheckError as err:
                raise ConfigCheckError(f'{info["seg_map_path"]}: {err}') \
                    from None
        bar.update()
    bar.file.write('\n')

    result = dict(
        config=osp.abspath(args.config),
        f_checkpoint=osp.abspath(args.f_checkpoint),
        oracle_checkpoint=osp.abspath(args.oracle_checkpoint),
        oracle_config=o_cfg_source,
        target_domain=settings['target_domain'],
        scale=list(settings['scale']) if settings['scale'] else None,
        num_images=len(dataset),
        classes=classes)
    for key, _ in ROWS:
        result[key] = scores(confusion[key], classes)
    out = args.out or osp.splitext(args.f_checkpoint)[0] + '_fcn_score.json'
    with atomic_open(out, 'w', what='FCN-score') as f:
        json.dump(result, f, indent=2, allow_nan=False)
    print(f'FCN-score of {args.f_checkpoint} ({len(dataset)} source '
          f'images, oracle {args.oracle_checkpoint}):')
    print(markdown(result))
    print(f'FCN-score mIoU {result["translated"]["mIoU"]} (identity F: '
          f'{result["identity"]["mIoU"]}); written to {out}')
    return result


if __name__ == '__main__':
    from mmbdl.utils import run_cli
    run_cli(main)
