"""Plot the kept-pixel ratio of pseudo-labels against the confidence
threshold, and its slope (the BDL paper's Figure 5), from one pass over the
target training set.

For a fixed threshold ``t`` the kept-pixel ratio is the share of target
pixels whose maximum class probability is ``>= t``. One inference pass fills
per-class confidence histograms (65536 bins of [0, 1]); the curve is read off
them for every ``t`` on the grid, and the slope is its numerical derivative.
The class-wise median thresholds of the released rule and the resulting
ratio are printed too.

Examples:
    python tools/analysis/plot_pixel_ratio.py CONFIG CKPT --out ratio.png
    python tools/analysis/plot_pixel_ratio.py CONFIG CKPT --out ratio.png \
        --json ratio.json --min 0.5 --max 0.99 --step 0.01
"""
import argparse
import json
import os.path as osp
import sys
from typing import Dict, List, Optional

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        description='Kept-pixel ratio vs confidence threshold (Figure 5)')
    parser.add_argument('config', help='config file (BDL or segmentor)')
    parser.add_argument('checkpoint', help='checkpoint with the segmentor')
    parser.add_argument('--out', required=True, help='output PNG')
    parser.add_argument('--json', default=None,
                        help='also write the curve as JSON here')
    parser.add_argument('--min', type=float, default=0.5,
                        help='smallest threshold (default 0.5)')
    parser.add_argument('--max', type=float, default=0.99,
                        help='largest threshold (default 0.99)')
    parser.add_argument('--step', type=float, default=0.01,
                        help='threshold step (default 0.01)')
    parser.add_argument('--flip', action='store_true',
                        help='flip-averaged inference')
    parser.add_argument('--scales', type=float, nargs='+', default=None,
                        help='multi-scale inference factors')
    parser.add_argument('--batch-size', type=int, default=None)
    parser.add_argument('--num-workers', type=int, default=None)
    parser.add_argument('--device', default=None,
                        help='e.g. cuda:0 or cpu (default: cuda if '
                        'available)')
    parser.add_argument('--title', default=None, help='figure title')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args(argv)


def ratio_curve(hist, thresholds: np.ndarray) -> Dict[str, List[float]]:
    """Kept-pixel ratio and its slope on a grid of fixed thresholds.

    Args:
        hist (ClassConfidenceHistogram): Filled histogram.
        thresholds (np.ndarray): Increasing thresholds.

    Returns:
        dict: ``threshold``, ``ratio`` and ``slope`` (d ratio / d t) lists.
    """
    total = max(int(hist.counts.sum()), 1)
    ratio = np.array([hist.count_at_least(float(t)).sum() / total
                      for t in thresholds])
    if len(thresholds) > 1:
        slope = np.gradient(ratio, thresholds)
    else:
        slope = np.zeros_like(ratio)
    return dict(threshold=[float(t) for t in thresholds],
                ratio=[float(r) for r in ratio],
                slope=[float(s) for s in slope])


def plot_curve(curve: Dict, out: str, title: Optional[str] = None) -> None:
    """Draw ratio and slope panels into a PNG (atomic write).

    Args:
        curve (dict): Output of :func:`ratio_curve`.
        out (str): PNG path.
        title (str, optional): Figure title.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    t = np.asarray(curve['threshold'])
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].plot(t, 100 * np.asarray(curve['ratio']), marker='o',
                 markersize=3)
    axes[0].set_xlabel('confidence threshold')
    axes[0].set_ylabel('kept pixels (%)')
    axes[0].set_title('pixel ratio')
    axes[0].grid(True, alpha=0.3)
    axes[1].plot(t, 100 * np.asarray(curve['slope']), marker='o',
                 markersize=3, color='tab:red')
    axes[1].set_xlabel('confidence threshold')
    axes[1].set_ylabel('slope (% per unit threshold)')
    axes[1].set_title('slope of the pixel ratio')
    axes[1].grid(True, alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    from mmbdl.utils.atomic_write import atomic_path
    with atomic_path(out, what='plot') as tmp:
        fig.savefig(tmp, dpi=120, format=osp.splitext(out)[1][1:] or 'png')
    plt.close(fig)


def main(argv: Optional[List[str]] = None) -> None:
    from mmbdl.utils.errors import ConfigCheckError
    args = parse_args(argv)
    import torch

    from mmbdl.apis.segmentor_loading import (build_target_dataset,
                                              dataloader_cfg_from_config,
                                              hook_settings_from_config,
                                              load_inference_segmentor)
    from mmbdl.engine.pseudo_labeling import PseudoLabeler
    from mmbdl.engine.pseudo_labeling.pseudo_labeler import dataset_class_names
    from mmbdl.models.utils import ClasswiseMedianRule
    from mmbdl.utils import load_config, register_all_modules

    if not 0.0 <= args.min <= args.max <= 1.0 or args.step <= 0:
        raise ConfigCheckError('need 0 <= --min <= --max <= 1 and --step > 0')
    register_all_modules(init_default_scope=True)
    cfg = load_config(args.config, args.cfg_options)
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    hook = hook_settings_from_config(cfg)
    dl_cfg = dataloader_cfg_from_config(cfg)
    dataset = build_target_dataset(dl_cfg)
    names = dataset_class_names(dataset)
    segmentor = load_inference_segmentor(cfg, args.checkpoint, device)
    labeler = PseudoLabeler(
        segmentor, flip=args.flip or bool(hook.get('flip', False)),
        scales=args.scales or hook.get('scales'),
        label_size=hook.get('label_size'),
        ignore_margin=hook.get('ignore_margin', (0, 0)),
        data_preprocessor=hook.get('data_preprocessor'))
    labeler.check_num_classes(len(names), source=args.checkpoint)
    hist = labeler.confidence_histogram(
        dataset,
        batch_size=args.batch_size or int(dl_cfg.get('batch_size', 1)),
        num_workers=args.num_workers if args.num_workers is not None else
        int(dl_cfg.get('num_workers', 0)))
    grid = np.round(np.arange(args.min, args.max + args.step / 2,
                              args.step), 6)
    curve = ratio_curve(hist, grid)
    # the released class-wise median rule, approximated at bin resolution
    # (1.5e-5): exact values would need a second pass.
    policy = ClasswiseMedianRule()
    counts = [int(n) for n in hist.counts]
    wanted = {c: policy.selection_index(n) for c, n in enumerate(counts)
              if policy.selection_index(n) is not None}
    approx = hist.approximate_values(wanted)
    thr = policy.thresholds(counts, [approx.get(c) for c in
                                     range(len(names))])
    kept = sum(int(hist.hist[c, int(np.floor(t * hist.num_bins)):].sum())
               for c, t in enumerate(thr))
    curve['classwise_median'] = dict(
        thresholds={n: float(t) for n, t in zip(names, thr)},
        ratio=kept / max(sum(counts), 1))
    curve['num_pixels'] = int(sum(counts))
    curve['num_images'] = len(dataset)
    plot_curve(curve, args.out, args.title)
    if args.json:
        from mmbdl.utils.atomic_write import atomic_open
        with atomic_open(args.json, 'w') as f:
            json.dump(curve, f, indent=2)
    print(f'wrote {args.out}: kept ratio '
          + ', '.join(f'{r:.3f} at {t:.2f}' for t, r in zip(
              curve['threshold'], curve['ratio'])
              if abs(t * 10 - round(t * 10)) < 1e-9)
          + f"; class-wise median rule keeps "
          f"{curve['classwise_median']['ratio']:.3f}")


if __name__ == '__main__':
    from mmbdl.utils import run_cli
    run_cli(main)
