"""Translate a whole image folder with a translator (e.g. a trained CycleGAN).

Shared by :class:`~mmbdl.engine.hooks.SourceTranslationHook` (the BDL loop)
and ``tools/translate.py``. The layout follows the translated-source
interface: the image ``<img_dir>/<rel>.<ext>`` becomes
``<out_dir>/<rel>.png`` with the same size as the (optionally resized) input;
``<out_dir>/.complete.json`` is written last. Every PNG is written to a
temporary name in its folder and renamed, so a file that exists is whole. A
rerun with the same generator skips the files already written; distributed
runs split the files among ranks and rank 0 marks the folder complete after a
barrier.
"""
import hashlib
import json
import os
import os.path as osp
import time
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import (Callable, Dict, Iterable, Iterator, List, Optional,
                    Sequence, Tuple)

import cv2
import mmcv
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import barrier, broadcast_object_list, get_dist_info
from mmengine.logging import MMLogger
from mmengine.utils import ProgressBar

from mmbdl.utils.atomic_write import atomic_open
from mmbdl.utils.errors import ConfigCheckError, MissingFileError
from mmbdl.utils.model_utils import unwrap_model

COMPLETE_FILE = '.complete.json'
PROGRESS_FILE = '.in_progress.json'
IMG_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.ppm')
# settings that must agree for files of an earlier run to be reused
_MATCH_KEYS = ('img_dir', 'img_suffix', 'scale', 'interpolation',
               'target_domain', 'generator_sha1', 'num_images')


def list_images(img_dir: str, img_suffix: str = '.png') -> List[str]:
    """List images below ``img_dir`` (recursive), as sorted relative paths.

    Args:
        img_dir (str): Root folder of the images.
        img_suffix (str): File name ending to select, e.g. '.png' or
            '_leftImg8bit.png'. Defaults to '.png'.

    Returns:
        list[str]: Relative paths (with their suffix), sorted.

    Raises:
        FileNotFoundError: If ``img_dir`` is not a folder.
        ValueError: If no file ends with ``img_suffix``.
    """
    if not osp.isdir(img_dir):
        raise MissingFileError(
            f'source image folder {img_dir} does not exist; set img_dir to '
            "the source dataset's image folder (data_root + "
            "data_prefix['img_path'])")
    rels = []
    for root, dirs, files in os.walk(img_dir, followlinks=True):
        dirs.sort()
        for name in files:
            if name.endswith(img_suffix) and not name.startswith('.'):
                rels.append(osp.relpath(osp.join(root, name), img_dir))
    if not rels:
        raise ConfigCheckError(
            f'source image folder {img_dir} holds no file ending with '
            f'{img_suffix!r}; check img_dir and img_suffix')
    return sorted(rels)


def output_relpath(rel_path: str) -> str:
    """Output name of an input image: its extension replaced by ``.png``.

    Args:
        rel_path (str): Input path relative to the image root, e.g.
            ``images/00001.jpg``.

    Returns:
        str: Relative output path, e.g. ``images/00001.png``.
    """
    return osp.splitext(rel_path)[0] + '.png'


def load_image(path: str, scale: Optional[Sequence[int]] = None,
               interpolation: str = 'bicubic') -> np.ndarray:
    """Read a colour image (BGR uint8) and resize it to ``scale``.

    The resize uses Pillow, like the segmentation pipelines' fixed resize
    (``Resize(..., backend='pillow')``), so a translated image has the same
    geometry as the source image the segmentor would have seen.

    Args:
        path (str): Image file.
        scale (Sequence[int], optional): ``(width, height)`` to resize to.
            Defaults to None (keep size).
        interpolation (str): mmcv interpolation name. Defaults to 'bicubic'.

    Returns:
        np.ndarray: ``(H, W, 3)`` uint8, BGR.
    """
    img = mmcv.imread(path, flag='color', channel_order='bgr')
    if img is None:
        raise ConfigCheckError(
            f'cannot read image {path}; the file is missing or '
            'not an image (delete or replace it)')
    if scale is not None and (img.shape[1], img.shape[0]) != tuple(scale):
        img = mmcv.imresize(img, tuple(scale), interpolation=interpolation,
                            backend='pillow')
    return img


def write_png_atomic(img: np.ndarray, path: str) -> None:
    """Write a BGR uint8 image as PNG via a temporary name and a rename.

    Args:
        img (np.ndarray): ``(H, W, 3)`` uint8, BGR.
        path (str): Final ``.png`` path; parent folders are created.
    """
    ok, buf = cv2.imencode('.png', img)
    if not ok:
        raise IOError(f'cannot encode {path} as PNG')
    with atomic_open(path, 'wb', what='translated image') as f:
        f.write(buf.tobytes())


def write_json_atomic(obj: dict, path: str) -> None:
    """Write ``obj`` as JSON via a temporary name and a rename."""
    with atomic_open(path, 'w') as f:
        json.dump(obj, f, indent=2, sort_keys=True)


def get_generator(translator: nn.Module,
                  target_domain: str = 'target') -> 'DirectionState':
    """The translation into ``target_domain``, as its defining weights.

    Args:
        translator (nn.Module): A (possibly wrapped) translator
            (:class:`~mmbdl.models.translators.BaseTranslator`).
        target_domain (str): Output domain. Defaults to 'target'.

    Returns:
        DirectionState: ``state_dict()`` gives the weights of the direction
        (:meth:`BaseTranslator.direction_state`), for
        :func:`generator_fingerprint`.
    """
    return DirectionState(unwrap_model(translator), target_domain)


class DirectionState:
    """One direction of a translator, seen through its weights."""

    def __init__(self, translator, target_domain: str) -> None:
        self.translator = translator
        self.target_domain = target_domain

    def state_dict(self) -> Dict[str, torch.Tensor]:
        """The tensors that define the direction."""
        return self.translator.direction_state(self.target_domain)


def generator_fingerprint(generator) -> str:
    """SHA-1 of a direction's weights (identifies the translation).

    Args:
        generator: Anything with ``state_dict()``: a generator module or a
            :class:`DirectionState`.
    """
    sha = hashlib.sha1()
    for name, tensor in sorted(generator.state_dict().items()):
        sha.update(name.encode())
        sha.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return sha.hexdigest()


def translator_device(translator: nn.Module) -> torch.device:
    """Where a translator's tensors live (the CPU when it has none)."""
    for tensor in list(translator.parameters()) + list(translator.buffers()):
        return tensor.device
    return torch.device('cpu')


class ImageTranslator:
    """Translate uint8 images the way the translator sees them.

    Inputs are normalised into the translator's input space
    (:attr:`BaseTranslator.input_normalization`: mean, std, channel order),
    padded by reflection to a multiple of ``size_divisor`` (the ResNet
    generator halves the size twice) and the output is cropped back, so
    every output has its input's size. The translation itself is the
    translator's :meth:`BaseTranslator.translate`.

    Args:
        translator (nn.Module): A translator (e.g. ``PerceptualCycleGAN``),
            possibly wrapped.
        target_domain (str): Output domain. Defaults to 'target'.
        size_divisor (int, optional): Pad inputs to a multiple of this.
            Defaults to None (the translator's ``size_divisor``).
    """

    def __init__(self, translator: nn.Module, target_domain: str = 'target',
                 size_divisor: Optional[int] = None) -> None:
        self.translator = unwrap_model(translator)
        if target_domain not in self.translator.domains:
            raise ConfigCheckError(
                f'{type(self.translator).__name__} translates between '
                f'{list(self.translator.domains)}; target_domain='
                f'{target_domain!r} is not one of them')
        self.target_domain = target_domain
        self.generator = get_generator(self.translator, target_domain)
        self.norm = self.translator.input_normalization
        self.size_divisor = (self.translator.size_divisor
                             if size_divisor is None else size_divisor)
        self.device = translator_device(self.translator)

    @torch.no_grad()
    def __call__(self, imgs: Sequence[np.ndarray]) -> List[np.ndarray]:
        """Translate same-sized BGR uint8 images.

        Args:
            imgs (Sequence[np.ndarray]): ``(H, W, 3)`` uint8 BGR images of
                one size.

        Returns:
            list[np.ndarray]: Translated ``(H, W, 3)`` uint8 BGR images.
        """
        x = torch.from_numpy(np.stack(imgs)).to(self.device)
        x = x.permute(0, 3, 1, 2).float()
        if self.norm.channel_order == 'RGB':
            x = x.flip(1)
        mean = self.norm.mean.to(self.device)
        std = self.norm.std.to(self.device)
        x = (x - mean) / std
        h, w = x.shape[-2:]
        pad_h = (-h) % self.size_divisor
        pad_w = (-w) % self.size_divisor
        if pad_h or pad_w:
            mode = 'reflect' if min(h, w) > self.size_divisor else 'replicate'
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        y = self.translator.translate(x, self.target_domain)[..., :h, :w]
        pixel = y * std + mean
        if self.norm.channel_order == 'RGB':
            pixel = pixel.flip(1)
        pixel = pixel.clamp(0, 255).round().to(torch.uint8)
        out = pixel.permute(0, 2, 3, 1).cpu().numpy()
        return [np.ascontiguousarray(o) for o in out]


def _prefetch(pool: ThreadPoolExecutor, fn: Callable, items: Iterable,
              window: int) -> Iterator:
    """``map(fn, items)`` on ``pool`` with at most ``window`` in flight."""
    pending: deque = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _same_size_groups(paths: List[str], imgs: List[np.ndarray]
                      ) -> Iterator[Tuple[List[str], List[np.ndarray]]]:
    """Split a chunk into runs of equal image size."""
    groups: Dict[Tuple[int, ...], Tuple[List, List]] = {}
    for path, img in zip(paths, imgs):
        group = groups.setdefault(img.shape, ([], []))
        group[0].append(path)
        group[1].append(img)
    yield from groups.values()


def _prepare_out_dir(out_dir: str, meta: dict,
                     logger: MMLogger) -> str:
    """Decide how to treat an existing output folder (rank 0 only).

    Returns:
        str: 'complete' (nothing to do), 'resume' (keep written files) or
        'fresh' (overwrite everything).
    """
    os.makedirs(out_dir, exist_ok=True)
    marker = osp.join(out_dir, COMPLETE_FILE)
    progress = osp.join(out_dir, PROGRESS_FILE)
    key = {k: meta.get(k) for k in _MATCH_KEYS}
    for path, state in ((marker, 'complete'), (progress, 'resume')):
        if not osp.exists(path):
            continue
        try:
            with open(path) as f:
                old = json.load(f)
        except (OSError, ValueError):
            old = {}
        if {k: old.get(k) for k in _MATCH_KEYS} == json.loads(
                json.dumps(key)):
            if state == 'complete':
                return state
            write_json_atomic(meta, progress)
            return state
        logger.warning(
            f'{path} was written for other settings or another generator; '
            f'{out_dir} is translated again from scratch')
        os.remove(path)
    write_json_atomic(meta, progress)
    return 'fresh'


def translate_directory(translator: nn.Module,
                        img_dir: str,
                        out_dir: str,
                        img_suffix: str = '.png',
                        scale: Optional[Sequence[int]] = None,
                        interpolation: str = 'bicubic',
                        batch_size: int = 1,
                        num_workers: int = 2,
                        target_domain: str = 'target',
                        extra_meta: Optional[dict] = None,
                        progress: bool = True) -> dict:
    """Translate every image below ``img_dir`` into ``out_dir``.

    Call it on every rank in a distributed run (it contains barriers).

    Args:
        translator (nn.Module): A translator (``BaseTranslator``), possibly
            wrapped.
        img_dir (str): Source image root.
        out_dir (str): Output root (created).
        img_suffix (str): Ending of the images to translate. Defaults to
            '.png'.
        scale (Sequence[int], optional): ``(width, height)`` every image is
            resized to before translation (the segmentation training
            resolution). Defaults to None (keep each image's size).
        interpolation (str): Resize interpolation. Defaults to 'bicubic'.
        batch_size (int): Images per generator call. Defaults to 1.
        num_workers (int): Threads that read and write files. Defaults to 2.
        target_domain (str): Output domain of the generator. Defaults to
            'target'.
        extra_meta (dict, optional): More entries for ``.complete.json``.
            Defaults to None.
        progress (bool): Show a progress bar on rank 0. Defaults to True.

    Returns:
        dict: The metadata stored in ``.complete.json``.
    """
    logger = MMLogger.get_current_instance()
    rank, world_size = get_dist_info()
    img_dir = osp.abspath(img_dir)
    out_dir = osp.abspath(out_dir)
    rels = list_images(img_dir, img_suffix)
    translate = ImageTranslator(translator, target_domain)
    meta = dict(
        img_dir=img_dir, img_suffix=img_suffix,
        scale=list(scale) if scale is not None else None,
        interpolation=interpolation, target_domain=target_domain,
        generator_sha1=generator_fingerprint(translate.generator),
        num_images=len(rels))
    meta.update(extra_meta or {})

    state = [_prepare_out_dir(out_dir, meta, logger) if rank == 0 else None]
    if world_size > 1:
        broadcast_object_list(state, src=0)
    if state[0] == 'complete':
        logger.info(f'{out_dir} is already complete; translation skipped')
        with open(osp.join(out_dir, COMPLETE_FILE)) as f:
            return json.load(f)

    mine = rels[rank::world_size]
    counts = Counter(output_relpath(rel) for rel in rels)
    if len(counts) != len(rels):
        clash = sorted(n for n, c in counts.items() if c > 1)
        raise ConfigCheckError(
            f'{img_dir}: several images map to the same output name, e.g. '
            f'{clash[:3]} (same name, different extension); narrow '
            'img_suffix to one extension')
    outputs = {rel: osp.join(out_dir, output_relpath(rel)) for rel in mine}
    if state[0] == 'resume':
        todo = [rel for rel in mine if not osp.exists(outputs[rel])]
    else:
        todo = list(mine)
    logger.info(f'translating {len(todo)} of {len(rels)} images from '
                f'{img_dir} into {out_dir} (rank {rank}/{world_size}, '
                f'{len(mine) - len(todo)} already done)')

    start = time.perf_counter()
    bar = ProgressBar(len(todo)) if progress and rank == 0 and todo else None
    window = max(2 * batch_size, num_workers + 1)
    with ThreadPoolExecutor(max(1, num_workers)) as pool:
        writes: deque = deque()
        loaded = _prefetch(
            pool,
            lambda rel: load_image(
                osp.join(img_dir, rel), scale, interpolation), todo, window)
        for begin in range(0, len(todo), batch_size):
            chunk = todo[begin:begin + batch_size]
            imgs = [next(loaded) for _ in chunk]
            for group_rels, group_imgs in _same_size_groups(chunk, imgs):
                for rel, out in zip(group_rels, translate(group_imgs)):
                    writes.append(
                        pool.submit(write_png_atomic, out, outputs[rel]))
            while len(writes) > window:
                _finish(writes.popleft())
            if bar is not None:
                for _ in chunk:
                    bar.update()
        while writes:
            _finish(writes.popleft())
    if bar is not None:
        bar.file.write('\n')
    elapsed = time.perf_counter() - start

    if world_size > 1:
        barrier()
    if rank == 0:
        missing = [
            rel for rel in rels
            if not osp.exists(osp.join(out_dir, output_relpath(rel)))
        ]
        if missing:
            raise RuntimeError(
                f'{len(missing)} translated images are missing in {out_dir} '
                f'(e.g. {missing[:3]}); run the translation again')
        meta.update(complete=True, seconds=round(elapsed, 3),
                    world_size=world_size,
                    finished_at=time.strftime('%Y-%m-%dT%H:%M:%S'))
        write_json_atomic(meta, osp.join(out_dir, COMPLETE_FILE))
        progress_file = osp.join(out_dir, PROGRESS_FILE)
        if osp.exists(progress_file):
            os.remove(progress_file)
        logger.info(f'translated source set complete: {out_dir} '
                    f'({len(rels)} images)')
    if world_size > 1:
        barrier()
    return meta


def _finish(future: Future) -> None:
    future.result()  # re-raise a failed write


def make_sample_sheet(img_dir: str, out_dir: str, rels: Sequence[str],
                      scale: Optional[Sequence[int]] = None,
                      interpolation: str = 'bicubic',
                      max_width: int = 1024) -> np.ndarray:
    """Side-by-side sheet: each row is an input and its translation.

    Args:
        img_dir (str): Source image root.
        out_dir (str): Translated image root.
        rels (Sequence[str]): Relative input paths to show.
        scale (Sequence[int], optional): Resize applied before translation,
            so the pair has one size. Defaults to None.
        interpolation (str): Resize interpolation. Defaults to 'bicubic'.
        max_width (int): Each image is shrunk to at most this width.
            Defaults to 1024.

    Returns:
        np.ndarray: BGR uint8 sheet.
    """
    rows = []
    for rel in rels:
        src = load_image(osp.join(img_dir, rel), scale, interpolation)
        out = load_image(osp.join(out_dir, output_relpath(rel)))
        if out.shape != src.shape:
            out = mmcv.imresize(out, (src.shape[1], src.shape[0]))
        if src.shape[1] > max_width:
            size = (max_width, round(src.shape[0] * max_width / src.shape[1]))
            src, out = mmcv.imresize(src, size), mmcv.imresize(out, size)
        gap = np.full((src.shape[0], 8, 3), 255, np.uint8)
        rows.append(np.concatenate([src, gap, out], axis=1))
    width = max(r.shape[1] for r in rows)
    padded = []
    for row in rows:
        pad = np.full((row.shape[0], width - row.shape[1], 3), 255, np.uint8)
        padded.append(np.concatenate([row, pad], axis=1))
        padded.append(np.full((8, width, 3), 255, np.uint8))
    return np.concatenate(padded[:-1], axis=0)
