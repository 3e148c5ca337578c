"""Label the target training set with a segmentor (the core of SSL).

:class:`PseudoLabeler` is shared by :class:`~mmbdl.engine.hooks.
PseudoLabelHook` (before every self-training round of the BDL loop),
``tools/pseudo_label.py`` and ``tools/analysis/plot_pixel_ratio.py``. A
round is three steps, each in its own module:

- inference on the target set (:mod:`.target_inference`, as the release
  does it);
- fitting the rule's data-dependent thresholds, if it has any
  (:mod:`.histogram`, streaming: memory independent of the number of
  images);
- applying the rule (``TASK_UTILS``,
  :mod:`mmbdl.models.utils.pseudo_label_rules`) and writing the labels, the
  statistics and the completion marker (:mod:`.label_files`).
"""
import os
import os.path as osp
import time
from typing import Dict, List, Optional, Sequence, Union

import torch.nn as nn
from mmengine.dist import barrier, get_dist_info
from mmengine.logging import MMLogger
from mmengine.utils import ProgressBar

from mmbdl.models.utils.pseudo_label_rules import (PseudoLabelRule, RuleConfig,
                                                   build_pseudo_label_rule)
from mmbdl.utils.errors import ConfigCheckError
from .histogram import (ClassConfidenceHistogram, SetConfidences, cache_path,
                        round_cache_dir)
from .label_files import (FORMAT_NAME, check_unique_labels, finish_round,
                          load_cache, log_statistics, model_fingerprint,
                          pseudo_label_relpath, save_cache, write_pseudo_label)
from .statistics import PseudoLabelStatistics
from .target_inference import (TargetImageError, TargetInference,
                               dataset_class_names, dataset_img_root,
                               find_data_preprocessor, segmentor_num_classes)

__all__ = [
    'PseudoLabeler', 'TargetImageError', 'find_data_preprocessor',
    'segmentor_num_classes', 'dataset_img_root', 'dataset_class_names',
    'log_statistics'
]


class PseudoLabeler(TargetInference):
    """Infer on a target set and write thresholded pseudo-labels.

    Args:
        segmentor (nn.Module): An mmseg segmentor (``EncoderDecoder``) or a
            model holding one under ``.segmentor`` (BDL wrappers).
        policy (str | dict | PseudoLabelRule): The pseudo-label rule (the
            config key keeps its name), see
            :func:`~mmbdl.models.utils.build_pseudo_label_rule`. Defaults to
            'classwise_median' (the released rule).
        flip, scales, label_size, ignore_margin, data_preprocessor:
            Inference settings, see :class:`TargetInference`.
        num_bins (int): First-pass histogram bins per class. Defaults to
            65536.
    """

    def __init__(self,
                 segmentor: nn.Module,
                 policy: RuleConfig = 'classwise_median',
                 flip: bool = False,
                 scales: Optional[Sequence[float]] = None,
                 label_size: Optional[Sequence[int]] = None,
                 ignore_margin: Sequence[int] = (0, 0),
                 data_preprocessor: Union[nn.Module, dict, None] = None,
                 num_bins: int = 65536) -> None:
        super().__init__(segmentor, flip=flip, scales=scales,
                         label_size=label_size, ignore_margin=ignore_margin,
                         data_preprocessor=data_preprocessor)
        self.rule: PseudoLabelRule = build_pseudo_label_rule(policy)
        if not self.rule.uses_max_prob and self.rule.needs_fit:
            raise ConfigCheckError(
                f'{self.rule!r} fits thresholds and needs every class '
                'probability; offline labelling streams the maximum only '
                'between its passes: give it uses_max_prob=True or no fit')
        self.keep_probs = not self.rule.uses_max_prob
        self.num_bins = num_bins

    def settings(self) -> Dict:
        """Inference and policy settings (stored in the round metadata)."""
        return dict(policy=self.rule.to_dict(), flip=self.flip,
                    scales=list(self.scales),
                    label_size=None if self.label_size is None else list(
                        self.label_size),
                    ignore_margin=list(self.ignore_margin))

    def fingerprint(self) -> str:
        """SHA-1 of the inference segmentor's weights."""
        return model_fingerprint(self.segmentor)

    def confidence_histogram(self, dataset, batch_size: int = 1,
                             num_workers: int = 0,
                             progress: bool = True
                             ) -> ClassConfidenceHistogram:
        """One inference pass that only fills the per-class histograms.

        Used by ``tools/analysis/plot_pixel_ratio.py``.

        Args:
            dataset: The target dataset (mmseg style).
            batch_size (int): Images per forward. Defaults to 1.
            num_workers (int): Loader workers. Defaults to 0.
            progress (bool): Show a progress bar. Defaults to True.

        Returns:
            ClassConfidenceHistogram: Summed over distributed ranks.
        """
        dataset = self._prepare_dataset(dataset)
        names = dataset_class_names(dataset)
        if self.num_classes is None:
            self.check_num_classes(len(names))
        hist = ClassConfidenceHistogram(len(names), self.num_bins)
        for _, result in self._iterate(dataset, batch_size, num_workers,
                                       progress, self._paths(dataset)):
            hist.update(result['pred'], result['conf'])
        hist.all_reduce()
        return hist

    def label_dataset(self,
                      dataset,
                      out_dir: str,
                      batch_size: int = 1,
                      num_workers: int = 0,
                      img_root: Optional[str] = None,
                      cache_dir: Optional[str] = None,
                      extra_meta: Optional[Dict] = None,
                      progress: bool = True,
                      logger: Optional[MMLogger] = None) -> Dict:
        """Write the pseudo-labels of a whole target set into ``out_dir``.

        The caller prepares ``out_dir`` (see :func:`prepare_round_dir`);
        this writes every label, the statistics JSON and, last,
        ``.complete.json``. In distributed runs every rank must call it:
        ranks split the images, combine their histograms (identical
        thresholds everywhere) and rank 0 marks the folder complete.

        Args:
            dataset: Target training dataset (mmseg style: ``data_prefix``,
                ``metainfo['classes']``); its pipeline loads and resizes the
                images and may load labels (used for statistics only).
            out_dir (str): Round folder.
            batch_size (int): Images per forward. Defaults to 1.
            num_workers (int): Loader workers. Defaults to 0.
            img_root (str, optional): Root the label names are relative
                to. Defaults to None (``dataset.data_prefix['img_path']``).
            cache_dir (str, optional): Folder in which a private
                subfolder holds the temporary per-image cache (5 bytes per
                label pixel, 6 with target labels; removed at the end).
                Defaults to None (``out_dir/.cache``).
            extra_meta (dict, optional): Added to ``.complete.json``.
            progress (bool): Show progress bars. Defaults to True.
            logger (MMLogger, optional): Logger. Defaults to None (current).

        Returns:
            dict: The ``.complete.json`` metadata (``stats`` included).
        """
        logger = logger or MMLogger.get_current_instance()
        rank, world = get_dist_info()
        start = time.time()
        dataset = self._prepare_dataset(dataset)
        names = dataset_class_names(dataset)
        self.check_num_classes(len(names))
        img_root = img_root or dataset_img_root(dataset)
        paths = self._paths(dataset)
        rels = [pseudo_label_relpath(p, img_root) for p in paths]
        check_unique_labels(paths, rels)
        if len(rels) == 0:
            raise ConfigCheckError(
                f'the target dataset below {img_root} is empty')
        rule = self.rule
        num_classes = len(names)
        two_pass = rule.needs_fit
        cache_dir = round_cache_dir(out_dir, cache_dir)
        stats = PseudoLabelStatistics(num_classes)
        hist = ClassConfidenceHistogram(num_classes, self.num_bins)
        mine: List[int] = []

        if rank == 0:
            logger.info(f'pseudo-labelling {len(rels)} target images into '
                        f'{out_dir} with {rule!r}')
        # pass 1: inference (labels written now unless thresholds need the
        # whole set's statistics; then cached)
        for idx, result in self._iterate(dataset, batch_size, num_workers,
                                         progress, paths):
            if two_pass:
                hist.update(result['pred'], result['conf'])
                save_cache(cache_path(cache_dir, idx), result['pred'],
                           result['conf'], result['gt'])
                mine.append(idx)
            else:
                write_pseudo_label(out_dir, rels[idx], result['pred'],
                                   result['conf'], result['gt'], rule, stats,
                                   prob=result.get('prob'))
        if two_pass:
            # pass 2: the rule's exact thresholds; pass 3: write from cache
            hist.all_reduce()

            def refine_data():
                for idx in mine:
                    pred, conf, _ = load_cache(cache_path(cache_dir, idx))
                    yield pred, conf

            rule.fit(SetConfidences(hist, refine_data))
            self._write_cached(out_dir, cache_dir, rels, mine, stats,
                               progress and rank == 0 and world == 1)

        thresholds = rule.class_thresholds(num_classes)
        stats.all_reduce()
        summary = stats.to_dict(names, thresholds, weighted=rule.weighted)
        meta = dict(
            format=FORMAT_NAME,
            version=1,
            num_files=len(rels),
            num_weight_files=len(rels) if rule.weighted else 0,
            class_names=names,
            thresholds=[float(t) for t in thresholds],
            img_root=osp.abspath(img_root),
            stats=summary,
            seconds=round(time.time() - start, 3),
            world_size=world,
            **self.settings())
        meta.update(extra_meta or {})
        if world > 1:
            barrier()
        if rank == 0:
            finish_round(out_dir, cache_dir, summary, meta, logger)
        if world > 1:
            barrier()
        return meta

    def _write_cached(self, out_dir: str, cache_dir: str,
                      rels: Sequence[str], indices: Sequence[int],
                      stats: PseudoLabelStatistics, progress: bool) -> None:
        """Write the labels of the cached images, removing each cache."""
        bar = ProgressBar(len(indices)) if progress else None
        for idx in indices:
            cache = cache_path(cache_dir, idx)
            pred, conf, gt = load_cache(cache)
            write_pseudo_label(out_dir, rels[idx], pred, conf, gt, self.rule,
                               stats)
            os.remove(cache)
            if bar is not None:
                bar.update()
        if bar is not None:
            bar.file.write('\n')
