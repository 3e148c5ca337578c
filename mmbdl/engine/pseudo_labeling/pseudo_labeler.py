"""Label the target training set with a segmentor (the core of SSL).

:class:`PseudoLabeler` is shared by :class:`~mmbdl.engine.hooks.
PseudoLabelHook` (before every self-training round of the BDL loop),
``tools/pseudo_label.py`` and ``tools/analysis/plot_pixel_ratio.py``.

Inference follows the released code: softmax of the segmentor's raw logits
(1/8 resolution for DeepLabV2), upsampled bilinearly with
``align_corners=True`` to the label size (the network input size by
default: 512x1024 for Cityscapes at 1024x512), then the argmax and max per
pixel. Flip-averaged and multi-scale inference average the upsampled
probabilities (both off by default, as in the release).

Thresholds are computed without holding the set's probabilities in memory:
one inference pass writes a compact per-image cache (uint8 argmax, float32
confidence, 5 bytes per pixel, deleted at the end) and fills per-class
confidence histograms; a second pass over the cache refines the selected
order statistics to their exact values; a third writes the labels. Memory is
independent of the number of images. Policies without data-dependent
thresholds (``fixed``, ``soft``) write labels in the inference pass.
"""
import hashlib
import os
import os.path as osp
import shutil
import time
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dataset import pseudo_collate
from mmengine.dist import barrier, get_dist_info
from mmengine.logging import MMLogger, print_log
from mmengine.model import BaseDataPreprocessor
from mmengine.utils import ProgressBar
from torch.utils.data import DataLoader, Dataset

from mmbdl.utils.model_utils import unwrap_model
from .base_threshold_policy import BaseThresholdPolicy
from .build_threshold_policy import build_threshold_policy
from .class_confidence_histogram import (IGNORE_INDEX,
                                         ClassConfidenceHistogram,
                                         select_order_statistics,
                                         thresholds_to_float32)
from .pseudo_label_io import (CACHE_DIR, COMPLETE_FILE, FORMAT_NAME,
                              PROGRESS_FILE, STATS_FILE, load_cache,
                              model_fingerprint, pseudo_label_path,
                              pseudo_label_relpath, pseudo_weight_path,
                              save_cache, write_json_atomic, write_label_png)
from .pseudo_label_statistics import PseudoLabelStatistics


class TargetImageError(ValueError):
    """A target image that cannot be read or processed."""


class _IndexedDataset(Dataset):
    """A subset of a dataset that returns ``(index, sample)`` and names the
    image file when loading it fails."""

    def __init__(self, dataset, indices: Sequence[int],
                 paths: Sequence[str]) -> None:
        self.dataset = dataset
        self.indices = list(indices)
        self.paths = paths

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, j: int):
        idx = self.indices[j]
        try:
            sample = self.dataset[idx]
        except Exception as err:  # any loader/transform failure
            raise TargetImageError(
                f'cannot read target image {self.paths[idx]} '
                f'({type(err).__name__}: {err}); replace or remove the '
                'file, or fix the target dataset config') from None
        if sample is None:
            raise TargetImageError(
                f'cannot read target image {self.paths[idx]}; replace or '
                'remove the file')
        return idx, sample


def _collate(batch):
    indices = [b[0] for b in batch]
    return indices, pseudo_collate([b[1] for b in batch])


def find_data_preprocessor(model: nn.Module) -> nn.Module:
    """The data preprocessor to feed the inference segmentor.

    Walks ``model -> .segmentor -> ...`` and returns the innermost data
    preprocessor that is not a bare ``BaseDataPreprocessor`` (which would
    skip normalisation), e.g. the plain segmentor's ``SegDataPreProcessor``
    or, if only the wrapper has one, the wrapper's (a
    ``UDADataPreProcessor`` treats non-branch data as target data).

    Args:
        model (nn.Module): Any mmbdl model, possibly wrapped.

    Returns:
        nn.Module: A data preprocessor.
    """
    chain = []
    current = unwrap_model(model)
    while current is not None:
        chain.append(current)
        nxt = getattr(current, 'segmentor', None)
        current = unwrap_model(nxt) if isinstance(nxt, nn.Module) else None
    for module in reversed(chain):
        dp = getattr(module, 'data_preprocessor', None)
        if dp is not None and type(dp) is not BaseDataPreprocessor:
            return dp
    return chain[-1].data_preprocessor


def segmentor_num_classes(segmentor: nn.Module) -> Optional[int]:
    """Number of classes of an mmseg segmentor (None if unknown)."""
    head = getattr(segmentor, 'decode_head', None)
    for obj in (head, segmentor):
        n = getattr(obj, 'num_classes', None)
        if isinstance(n, int):
            return n
    return None


def dataset_img_root(dataset) -> str:
    """Image root of an mmseg-style dataset (``data_prefix['img_path']``).

    Raises:
        ValueError: If the dataset has no ``data_prefix['img_path']``.
    """
    prefix = getattr(dataset, 'data_prefix', None) or {}
    root = prefix.get('img_path') if isinstance(prefix, dict) else None
    if not root:
        raise ValueError(
            f'{type(dataset).__name__} has no data_prefix["img_path"]; pass '
            'img_root (the folder the pseudo-label names are relative to)')
    return root


def dataset_class_names(dataset) -> List[str]:
    """Class names from the dataset's metainfo.

    Raises:
        ValueError: If the dataset's metainfo holds no classes.
    """
    classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
    if not classes:
        raise ValueError(
            f'{type(dataset).__name__} has no metainfo["classes"]; set '
            'metainfo=dict(classes=...) in the target dataset config')
    return [str(c) for c in classes]


class PseudoLabeler:
    """Infer on a target set and write thresholded pseudo-labels.

    Args:
        segmentor (nn.Module): An mmseg segmentor (``EncoderDecoder``) or a
            model holding one under ``.segmentor`` (BDL wrappers).
        policy (str | dict | BaseThresholdPolicy): Threshold policy, see
            :func:`build_threshold_policy`. Defaults to 'classwise_median'
            (the released rule).
        flip (bool): Average the probabilities of the image and its
            horizontal flip. Defaults to False.
        scales (Sequence[float], optional): Input scale factors whose
            probabilities are averaged (multi-scale inference). Defaults to
            None (``(1.0, )``).
        label_size (Sequence[int], optional): ``(height, width)`` of the
            written labels. Defaults to None (the network input size of
            each image without padding, e.g. 512x1024).
        ignore_margin (Sequence[int]): Rows ``(top, bottom)`` of the label
            that are always ignored (255) and left out of thresholds and
            statistics. Defaults to (0, 0).
        data_preprocessor (nn.Module | dict, optional): Overrides the
            preprocessor found by :func:`find_data_preprocessor`. Defaults to
            None.
        num_bins (int): First-pass histogram bins per class. Defaults to
            65536.
    """

    def __init__(self,
                 segmentor: nn.Module,
                 policy: Union[str, dict, BaseThresholdPolicy,
                               None] = 'classwise_median',
                 flip: bool = False,
                 scales: Optional[Sequence[float]] = None,
                 label_size: Optional[Sequence[int]] = None,
                 ignore_margin: Sequence[int] = (0, 0),
                 data_preprocessor: Union[nn.Module, dict, None] = None,
                 num_bins: int = 65536) -> None:
        from mmbdl.utils.model_utils import get_inference_segmentor
        self.segmentor = get_inference_segmentor(segmentor)
        if isinstance(data_preprocessor, dict):
            from mmbdl.registry import MODELS
            data_preprocessor = MODELS.build(data_preprocessor)
        self.data_preprocessor = data_preprocessor or \
            find_data_preprocessor(segmentor)
        self.policy = build_threshold_policy(policy)
        self.flip = bool(flip)
        self.scales = tuple(float(s) for s in (scales or (1.0, )))
        if any(s <= 0 for s in self.scales):
            raise ValueError(f'scales must be positive, got {self.scales}')
        if label_size is not None and len(label_size) != 2:
            raise ValueError('label_size must be (height, width), got '
                             f'{label_size}')
        self.label_size = None if label_size is None else \
            (int(label_size[0]), int(label_size[1]))
        if len(ignore_margin) != 2 or min(ignore_margin) < 0:
            raise ValueError('ignore_margin must be (top, bottom) rows >= 0, '
                             f'got {ignore_margin}')
        self.ignore_margin = (int(ignore_margin[0]), int(ignore_margin[1]))
        self.num_bins = num_bins
        self.num_classes: Optional[int] = None

    # ------------------------------------------------------------ settings
    def settings(self) -> Dict:
        """Inference and policy settings (stored in the round metadata)."""
        return dict(policy=self.policy.to_dict(), flip=self.flip,
                    scales=list(self.scales),
                    label_size=None if self.label_size is None else list(
                        self.label_size),
                    ignore_margin=list(self.ignore_margin))

    def fingerprint(self) -> str:
        """SHA-1 of the inference segmentor's weights."""
        return model_fingerprint(self.segmentor)

    def check_num_classes(self, num_classes: int, source: str = '') -> None:
        """Fail if the segmentor predicts another number of classes.

        Args:
            num_classes (int): Classes of the target dataset.
            source (str): Names the model (e.g. a checkpoint) in the error.

        Raises:
            ValueError: On a mismatch.
        """
        n = segmentor_num_classes(self.segmentor)
        if n is not None and n != num_classes:
            raise ValueError(self._class_error(n, num_classes, source))
        self.num_classes = num_classes

    @staticmethod
    def _class_error(model_n: int, data_n: int, source: str) -> str:
        what = f'the segmentor{f" of {source}" if source else ""}'
        return (f'{what} predicts {model_n} classes but the target dataset '
                f'has {data_n}; use a checkpoint/config made for the '
                "dataset's classes or set the dataset's metainfo classes")

    # ------------------------------------------------------------ inference
    def _logits(self, inputs: torch.Tensor, data_samples) -> torch.Tensor:
        out = self.segmentor(inputs, data_samples, mode='tensor')
        if isinstance(out, (list, tuple)):
            out = out[0]
        return out

    @torch.no_grad()
    def predict(self, data_batch: Dict) -> List[Dict]:
        """Predict one collated batch.

        Args:
            data_batch (dict): ``pseudo_collate`` output of the target
                pipeline (``inputs`` uint8 images, ``data_samples``).

        Returns:
            list[dict]: Per image ``pred`` (uint8, 255 in the margins),
            ``conf`` (float32), ``gt`` (uint8 labels at the label size, or
            None) and ``img_path``.
        """
        data = self.data_preprocessor(data_batch, False)
        inputs, samples = data['inputs'], data['data_samples']
        if isinstance(inputs, (list, tuple)):
            inputs = torch.stack(list(inputs))
        height, width = inputs.shape[-2:]
        metas = [s.metainfo for s in samples]
        sizes = []
        for meta in metas:
            pad = meta.get('img_padding_size') or meta.get('padding_size')
            if pad is not None and any(pad):
                content = (height - int(pad[3]), width - int(pad[1]))
            else:
                content = (height, width)
            sizes.append(content)
        out_sizes = [self.label_size or c for c in sizes]

        sums: List[Optional[torch.Tensor]] = [None] * len(samples)
        for scale in self.scales:
            if scale == 1.0:
                x = inputs
            else:
                x = F.interpolate(
                    inputs,
                    size=(max(1, round(height * scale)),
                          max(1, round(width * scale))),
                    mode='bilinear', align_corners=False)
            for flip in ((False, True) if self.flip else (False, )):
                xi = x.flip(-1) if flip else x
                probs = self._logits(xi, samples).float().softmax(dim=1)
                if self.num_classes is not None and \
                        probs.shape[1] != self.num_classes:
                    raise ValueError(self._class_error(
                        probs.shape[1], self.num_classes, ''))
                for j in range(probs.shape[0]):
                    p = self._resize(probs[j:j + 1], (height, width),
                                     sizes[j], out_sizes[j])
                    if flip:
                        p = p.flip(-1)
                    sums[j] = p if sums[j] is None else sums[j] + p
        count = len(self.scales) * (2 if self.flip else 1)
        results = []
        for j, sample in enumerate(samples):
            probs = sums[j][0]
            if count > 1:
                probs = probs / count
            conf, pred = probs.max(dim=0)
            pred = pred.to(torch.uint8).cpu().numpy()
            conf = conf.cpu().numpy().astype(np.float32, copy=False)
            top, bottom = self.ignore_margin
            if top:
                pred[:top] = IGNORE_INDEX
            if bottom:
                pred[max(pred.shape[0] - bottom, 0):] = IGNORE_INDEX
            results.append(
                dict(pred=pred, conf=conf,
                     gt=self._gt(sample, pred.shape),
                     img_path=sample.metainfo.get('img_path')))
        return results

    @staticmethod
    def _resize(p: torch.Tensor, padded: Tuple[int, int],
                content: Tuple[int, int],
                out: Tuple[int, int]) -> torch.Tensor:
        """Upsample probabilities to the label size (one interpolation when
        the input has no padding, as in the release)."""
        if tuple(content) == tuple(padded):
            return F.interpolate(p, size=tuple(out), mode='bilinear',
                                 align_corners=True)
        p = F.interpolate(p, size=tuple(padded), mode='bilinear',
                          align_corners=True)
        p = p[..., :content[0], :content[1]]
        if tuple(out) != tuple(content):
            p = F.interpolate(p, size=tuple(out), mode='bilinear',
                              align_corners=True)
        return p

    @staticmethod
    def _gt(sample, shape) -> Optional[np.ndarray]:
        if 'gt_sem_seg' not in sample:
            return None
        gt = sample.gt_sem_seg.data
        gt = gt.cpu().numpy() if isinstance(gt, torch.Tensor) else \
            np.asarray(gt)
        gt = gt.reshape(gt.shape[-2:]).astype(np.uint8)
        if gt.shape != tuple(shape):
            gt = cv2.resize(gt, (shape[1], shape[0]),
                            interpolation=cv2.INTER_NEAREST)
        return gt

    # ------------------------------------------------------------ data
    def _loader(self, dataset, indices, paths, batch_size, num_workers):
        return DataLoader(
            _IndexedDataset(dataset, indices, paths),
            batch_size=batch_size,
            num_workers=num_workers,
            shuffle=False,
            collate_fn=_collate,
            persistent_workers=False)

    def _iterate(self, dataset, batch_size: int, num_workers: int,
                 progress: bool,
                 paths: Sequence[str]) -> Iterator[Tuple[int, Dict]]:
        """Predict this rank's share of the dataset, image by image."""
        rank, world = get_dist_info()
        indices = list(range(rank, len(dataset), world))
        bar = ProgressBar(len(dataset)) if progress and rank == 0 else None
        loader = self._loader(dataset, indices, paths, batch_size,
                              num_workers)
        was_training = self.segmentor.training
        self.segmentor.eval()
        try:
            for idxs, batch in loader:
                for idx, result in zip(idxs, self.predict(batch)):
                    yield idx, result
                if bar is not None:
                    step = min(len(idxs) * world,
                               len(dataset) - bar.completed)
                    if step > 0:
                        bar.update(step)
        finally:
            self.segmentor.train(was_training)
        if bar is not None:
            bar.file.write('\n')

    @staticmethod
    def _prepare_dataset(dataset):
        # Make mmengine datasets raise instead of silently substituting
        # another image when the pipeline fails.
        if hasattr(dataset, 'test_mode'):
            dataset.test_mode = True
        if hasattr(dataset, 'full_init'):
            dataset.full_init()
        return dataset

    @staticmethod
    def _paths(dataset) -> List[str]:
        if hasattr(dataset, 'get_data_info'):
            return [dataset.get_data_info(i)['img_path']
                    for i in range(len(dataset))]
        return [f'#{i}' for i in range(len(dataset))]

    # ------------------------------------------------------------ passes
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
        seen: Dict[str, str] = {}
        for path, rel in zip(paths, rels):
            if rel in seen:
                raise ValueError(
                    f'target images {seen[rel]} and {path} map to the same '
                    f'pseudo-label {rel}.png; keep one of them')
            seen[rel] = path
        del seen
        if len(rels) == 0:
            raise ValueError(f'the target dataset below {img_root} is empty')
        policy = self.policy
        num_classes = len(names)
        two_pass = policy.needs_selection
        if cache_dir is None:
            cache_dir = osp.join(out_dir, CACHE_DIR)
        else:  # a private subfolder: only it is removed at the end
            key = hashlib.sha1(osp.abspath(out_dir).encode()).hexdigest()
            cache_dir = osp.join(cache_dir, f'mmbdl_pseudo_label_cache_'
                                 f'{key[:12]}')
        stats = PseudoLabelStatistics(num_classes)
        hist = ClassConfidenceHistogram(num_classes, self.num_bins)
        thresholds = policy.thresholds([0] * num_classes,
                                       [None] * num_classes)
        mine: List[int] = []

        if rank == 0:
            logger.info(f'pseudo-labelling {len(rels)} target images into '
                        f'{out_dir} with {policy!r}')
        for idx, result in self._iterate(dataset, batch_size, num_workers,
                                         progress, paths):
            if two_pass:
                hist.update(result['pred'], result['conf'])
                save_cache(self._cache_path(cache_dir, idx), result['pred'],
                           result['conf'], result['gt'])
                mine.append(idx)
            else:
                self._write(out_dir, rels[idx], result['pred'],
                            result['conf'], result['gt'],
                            thresholds_to_float32(thresholds), stats)

        if two_pass:
            hist.all_reduce()
            counts = [int(n) for n in hist.counts]
            wanted = {}
            for c, n in enumerate(counts):
                k = policy.selection_index(n)
                if k is not None:
                    wanted[c] = k

            def refine_data():
                for idx in mine:
                    pred, conf, _ = load_cache(
                        self._cache_path(cache_dir, idx))
                    yield pred, conf

            values = select_order_statistics(hist, wanted, refine_data,
                                             skip_above=policy.cap)
            thresholds = policy.thresholds(
                counts, [values.get(c) for c in range(num_classes)])
            t32 = thresholds_to_float32(thresholds)
            bar = ProgressBar(len(mine)) if progress and rank == 0 and \
                world == 1 else None
            for idx in mine:
                cache = self._cache_path(cache_dir, idx)
                pred, conf, gt = load_cache(cache)
                self._write(out_dir, rels[idx], pred, conf, gt, t32, stats)
                os.remove(cache)
                if bar is not None:
                    bar.update()
            if bar is not None:
                bar.file.write('\n')

        stats.all_reduce()
        summary = stats.to_dict(names, thresholds, soft=policy.soft)
        meta = dict(
            format=FORMAT_NAME,
            version=1,
            num_files=len(rels),
            num_weight_files=len(rels) if policy.soft else 0,
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
            if osp.isdir(cache_dir):
                shutil.rmtree(cache_dir, ignore_errors=True)
            write_json_atomic(summary, osp.join(out_dir, STATS_FILE))
            progress_marker = osp.join(out_dir, PROGRESS_FILE)
            if osp.exists(progress_marker):
                os.remove(progress_marker)
            write_json_atomic(meta, osp.join(out_dir, COMPLETE_FILE))
            accuracy = summary['accuracy_kept']
            logger.info(
                f'pseudo-labels written to {out_dir}: kept '
                f"{_pct(summary['kept_ratio'])} of the pixels" +
                (f', accuracy of kept pixels {_pct(accuracy)}'
                 if accuracy is not None else '') + '\n' +
                PseudoLabelStatistics.format_table(summary))
        if world > 1:
            barrier()
        return meta

    @staticmethod
    def _cache_path(cache_dir: str, idx: int) -> str:
        return osp.join(cache_dir, f'{idx:08d}.npy')

    def _write(self, out_dir: str, rel: str, pred: np.ndarray,
               conf: np.ndarray, gt: Optional[np.ndarray], t32: np.ndarray,
               stats: PseudoLabelStatistics) -> None:
        valid = pred < len(t32)
        safe = np.where(valid, pred, 0)
        if self.policy.soft:
            keep = valid
            weight = np.where(valid, np.rint(conf * np.float32(255.0)),
                              0).astype(np.uint8)
            write_label_png(weight, pseudo_weight_path(out_dir, rel))
        else:
            keep = valid & (conf >= t32[safe])
            weight = None
        label = np.where(keep, pred, IGNORE_INDEX).astype(np.uint8)
        write_label_png(label, pseudo_label_path(out_dir, rel))
        stats.update(pred, keep, gt, weight)


def _pct(value: Optional[float]) -> str:
    return '-' if value is None else f'{100.0 * value:.2f}%'


def log_statistics(stats: Dict, logger=None) -> None:
    """Log a statistics dict as a table.

    Args:
        stats (dict): ``PseudoLabelStatistics.to_dict`` output.
        logger (optional): Logger or logger name. Defaults to 'current'.
    """
    print_log(PseudoLabelStatistics.format_table(stats),
              logger=logger or 'current')
