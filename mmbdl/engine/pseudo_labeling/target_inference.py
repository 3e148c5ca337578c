"""Inference of a segmentor on the target set, as the release does it.

Softmax of the segmentor's raw logits (1/8 resolution for DeepLabV2),
upsampled bilinearly with the decode head's ``align_corners`` (True for
the release's DeepLab-v2) to the label size (the
network input size by default: 512x1024 for Cityscapes at 1024x512), then
the argmax and max per pixel. Flip-averaged and multi-scale inference
average the upsampled probabilities (both off by default, as in the
release). Each rank predicts its share of the images.
"""
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dataset import pseudo_collate
from mmengine.dist import get_dist_info
from mmengine.model import BaseDataPreprocessor
from mmengine.utils import ProgressBar
from torch.utils.data import DataLoader, Dataset

from mmbdl.utils.errors import ConfigCheckError, MMBDLUserError
from mmbdl.utils.head_align_corners import head_align_corners
from mmbdl.utils.model_utils import unwrap_model
from .histogram import IGNORE_INDEX


class TargetImageError(MMBDLUserError, ValueError):
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
        raise ConfigCheckError(
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
        raise ConfigCheckError(
            f'{type(dataset).__name__} has no metainfo["classes"]; set '
            'metainfo=dict(classes=...) in the target dataset config')
    return [str(c) for c in classes]


class TargetInference:
    """Per-pixel class and confidence of a segmentor on target images.

    Args:
        segmentor (nn.Module): An mmseg segmentor (``EncoderDecoder``) or a
            model holding one under ``.segmentor`` (BDL wrappers).
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
    """

    def __init__(self,
                 segmentor: nn.Module,
                 flip: bool = False,
                 scales: Optional[Sequence[float]] = None,
                 label_size: Optional[Sequence[int]] = None,
                 ignore_margin: Sequence[int] = (0, 0),
                 data_preprocessor: Union[nn.Module, dict, None] = None
                 ) -> None:
        from mmbdl.utils.model_utils import get_inference_segmentor
        self.segmentor = get_inference_segmentor(segmentor)
        # probabilities are resized as the decode head resizes its logits
        self.align_corners = head_align_corners(self.segmentor)
        if isinstance(data_preprocessor, dict):
            from mmbdl.registry import MODELS
            data_preprocessor = MODELS.build(data_preprocessor)
        self.data_preprocessor = data_preprocessor or \
            find_data_preprocessor(segmentor)
        self.flip = bool(flip)
        self.scales = tuple(float(s) for s in (scales or (1.0, )))
        if any(s <= 0 for s in self.scales):
            raise ConfigCheckError(
                f'scales must be positive, got {self.scales}')
        if label_size is not None and len(label_size) != 2:
            raise ConfigCheckError('label_size must be (height, width), got '
                                   f'{label_size}')
        self.label_size = None if label_size is None else \
            (int(label_size[0]), int(label_size[1]))
        if len(ignore_margin) != 2 or min(ignore_margin) < 0:
            raise ConfigCheckError(
                'ignore_margin must be (top, bottom) rows >= 0, got '
                f'{ignore_margin}')
        self.ignore_margin = (int(ignore_margin[0]), int(ignore_margin[1]))
        self.num_classes: Optional[int] = None
        # also return each image's probabilities (rules that need them)
        self.keep_probs = False

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
            raise ConfigCheckError(self._class_error(n, num_classes, source))
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
            None), ``img_path`` and, with :attr:`keep_probs`, ``prob``
            (``(1, C, H, W)`` float32).
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
                    raise ConfigCheckError(self._class_error(
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
            result = dict(pred=pred, conf=conf,
                          gt=self._gt(sample, pred.shape),
                          img_path=sample.metainfo.get('img_path'))
            if self.keep_probs:
                result['prob'] = probs[None].cpu()
            results.append(result)
        return results

    def _resize(self, p: torch.Tensor, padded: Tuple[int, int],
                content: Tuple[int, int],
                out: Tuple[int, int]) -> torch.Tensor:
        """Upsample probabilities to the label size (one interpolation when
        the input has no padding, as in the release), with the decode head's
        ``align_corners`` (True for the release's DeepLab-v2)."""
        align = self.align_corners
        if tuple(content) == tuple(padded):
            return F.interpolate(p, size=tuple(out), mode='bilinear',
                                 align_corners=align)
        p = F.interpolate(p, size=tuple(padded), mode='bilinear',
                          align_corners=align)
        p = p[..., :content[0], :content[1]]
        if tuple(out) != tuple(content):
            p = F.interpolate(p, size=tuple(out), mode='bilinear',
                              align_corners=align)
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
