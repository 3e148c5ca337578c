"""Files of a pseudo-label round: names, atomic writes, round-folder
state, and writing the labels, the statistics and, last, the
``.complete.json`` that marks the round done.

Layout (shared interface): for a target image ``<img_root>/<rel>.<ext>`` the
label is ``<round_dir>/<rel>.png`` (uint8, 255 = ignore) and, for a rule
with weights (soft), the weight ``<round_dir>/<rel>.weight.png`` (uint8,
``round(255 * weight)``). ``<round_dir>/.complete.json`` is written last;
``<round_dir>/.in_progress.json`` marks a folder this code is filling.
"""
import hashlib
import json
import os
import os.path as osp
import shutil
import time
from typing import Callable, Dict, List, Optional, Sequence

import cv2
import numpy as np
import torch.nn as nn
from mmengine.dist import barrier, broadcast_object_list, get_dist_info
from mmengine.logging import print_log

from mmbdl.models.utils.pseudo_label_rules import IGNORE_INDEX, PseudoLabelRule
from mmbdl.utils.atomic_write import atomic_open
from mmbdl.utils.errors import ConfigCheckError, MMBDLUserError
from .statistics import PseudoLabelStatistics

COMPLETE_FILE = '.complete.json'
PROGRESS_FILE = '.in_progress.json'
STATS_FILE = 'pseudo_label_stats.json'
WEIGHT_SUFFIX = '.weight.png'
FORMAT_NAME = 'mmbdl-pseudo-labels'


class PseudoLabelDirError(MMBDLUserError, ValueError):
    """An output folder that must not be (re)written."""


def pseudo_label_relpath(img_path: str, img_root: str) -> str:
    """Relative name of a target image without its extension.

    Args:
        img_path (str): Path of the target image.
        img_root (str): The target dataset's image root
            (``data_prefix['img_path']``).

    Returns:
        str: e.g. ``aachen/aachen_000000_000019_leftImg8bit``.

    Raises:
        ValueError: If ``img_path`` is not below ``img_root``.
    """
    rel = osp.relpath(osp.abspath(img_path), osp.abspath(img_root))
    if rel.startswith('..') or osp.isabs(rel):
        raise ConfigCheckError(
            f'target image {img_path} is not below the image '
            f'root {img_root}; set the pseudo-label img_root to '
            "the target dataset's data_prefix['img_path']")
    return osp.splitext(rel)[0]


def pseudo_label_path(pseudo_dir: str, rel: str) -> str:
    """Label file of a relative name (see :func:`pseudo_label_relpath`)."""
    return osp.join(pseudo_dir, rel + '.png')


def pseudo_weight_path(pseudo_dir: str, rel: str) -> str:
    """Soft-weight file of a relative name."""
    return osp.join(pseudo_dir, rel + WEIGHT_SUFFIX)


def write_bytes_atomic(data: bytes, path: str) -> None:
    """Write bytes to a temporary name in the same folder, then rename.

    Args:
        data (bytes): Content.
        path (str): Final path; parent folders are created.
    """
    with atomic_open(path, 'wb', what='pseudo-label file') as f:
        f.write(data)


def write_label_png(label: np.ndarray, path: str) -> None:
    """Write a single-channel uint8 map as PNG, atomically.

    Args:
        label (np.ndarray): ``(H, W)`` uint8.
        path (str): Output path.
    """
    ok, buf = cv2.imencode('.png', np.ascontiguousarray(label, np.uint8))
    if not ok:  # pragma: no cover - cv2 failure
        raise IOError(f'cannot encode {path} as PNG')
    write_bytes_atomic(buf.tobytes(), path)


def write_json_atomic(obj: Dict, path: str) -> None:
    """Write ``obj`` as JSON, atomically."""
    write_bytes_atomic(
        json.dumps(obj, indent=2, sort_keys=True).encode(), path)


def read_json(path: str) -> Optional[Dict]:
    """Read a JSON file; None if it is missing or unreadable."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def model_fingerprint(model: nn.Module) -> str:
    """SHA-1 of a model's state dict (names and tensor bytes).

    Args:
        model (nn.Module): The model (e.g. the inference segmentor).

    Returns:
        str: Hex digest.
    """
    sha = hashlib.sha1()
    for name, tensor in sorted(model.state_dict().items()):
        sha.update(name.encode())
        sha.update(str(tuple(tensor.shape)).encode())
        sha.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return sha.hexdigest()


def save_cache(path: str, pred: np.ndarray, conf: np.ndarray,
               gt: Optional[np.ndarray]) -> None:
    """Store one image's argmax/confidence (and labels) for later passes.

    Args:
        path (str): Cache file.
        pred (np.ndarray): uint8 predictions.
        conf (np.ndarray): float32 confidences.
        gt (np.ndarray, optional): uint8 target labels.
    """
    with atomic_open(path, 'wb', what='prediction cache') as f:
        np.save(f, np.ascontiguousarray(pred, np.uint8))
        np.save(f, np.ascontiguousarray(conf, np.float32))
        np.save(f, np.zeros(0, np.uint8) if gt is None else
                np.ascontiguousarray(gt, np.uint8))


def load_cache(path: str):
    """Inverse of :func:`save_cache`.

    Returns:
        tuple: ``(pred, conf, gt or None)``.
    """
    with open(path, 'rb') as f:
        pred = np.load(f)
        conf = np.load(f)
        gt = np.load(f)
    return pred, conf, (gt if gt.size else None)


def _list_entries(path: str) -> List[str]:
    return sorted(os.listdir(path)) if osp.isdir(path) else []


def round_dir_state(path: str) -> str:
    """Classify a round folder.

    Args:
        path (str): Round folder.

    Returns:
        str: 'missing', 'empty', 'complete', 'incomplete' (written by this
        code but not finished) or 'foreign' (holds files of something else).
    """
    if not osp.exists(path):
        return 'missing'
    if not osp.isdir(path):
        return 'foreign'
    entries = _list_entries(path)
    if not entries:
        return 'empty'
    if COMPLETE_FILE in entries:
        meta = read_json(osp.join(path, COMPLETE_FILE))
        if meta is not None and meta.get('format') == FORMAT_NAME:
            return 'complete'
        return 'foreign'
    if PROGRESS_FILE in entries:
        return 'incomplete'
    return 'foreign'


def reset_round_dir(path: str, info: Optional[Dict] = None) -> None:
    """Empty a round folder (ours or missing) and mark it in progress.

    Args:
        path (str): Round folder.
        info (dict, optional): Stored in the progress marker.
    """
    if osp.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path, exist_ok=True)
    write_json_atomic(dict(format=FORMAT_NAME, started=time.time(),
                           **(info or {})), osp.join(path, PROGRESS_FILE))


def signature_mismatch(meta: Dict, signature: Dict) -> List[str]:
    """Keys of ``signature`` whose value differs from the stored metadata.

    Args:
        meta (dict): ``.complete.json`` content.
        signature (dict): Settings of the run about to be made.

    Returns:
        list[str]: Differing keys (compared after a JSON round trip).
    """
    stored = meta.get('signature', {})
    norm = json.loads(json.dumps(signature))
    return [k for k in sorted(norm) if stored.get(k) != norm[k]]


def _describe(meta: Dict) -> str:
    source = meta.get('checkpoint') or meta.get('phase') or 'a model'
    fp = meta.get('signature', {}).get('fingerprint', '?')
    return f'{source} (weights sha1 {str(fp)[:12]})'


def prepare_round_dir(
        path: str,
        signature: Dict,
        overwrite: bool = False,
        resolve: Optional[Callable[[Dict, List[str]], str]] = None,
        info: Optional[Dict] = None,
        logger=None) -> Optional[Dict]:
    """Decide what to do with a round folder and get it ready.

    * missing / empty / incomplete (ours): emptied, marked in progress, and
      None is returned (generate the round).
    * complete with the same ``signature``: its metadata is returned (reuse).
    * complete with another signature: ``resolve(meta, differing_keys)``
      decides ('reuse', 'regenerate' or 'refuse'); without ``resolve`` it is
      refused unless ``overwrite``.
    * foreign content: always refused (nothing of the user's is deleted).

    In distributed runs rank 0 decides and acts, and every rank gets the
    same answer (or the same error).

    Args:
        path (str): Round folder.
        signature (dict): Settings identifying the labels (JSON-able).
        overwrite (bool): Replace a complete round made with other settings.
            Defaults to False.
        resolve (Callable, optional): See above. Defaults to None.
        info (dict, optional): Stored in the progress marker.
        logger (optional): Logger for notes. Defaults to None.

    Returns:
        dict, optional: The metadata to reuse, or None after resetting.

    Raises:
        PseudoLabelDirError: For refused folders.
    """
    rank, world = get_dist_info()
    answer: List = [None, None]
    if rank == 0:
        try:
            answer[0] = _prepare_on_rank0(path, signature, overwrite, resolve,
                                          info, logger)
        except PseudoLabelDirError as err:
            answer[1] = str(err)
    if world > 1:
        broadcast_object_list(answer, src=0)
        barrier()
    if answer[1] is not None:
        raise PseudoLabelDirError(answer[1])
    return answer[0]


def _prepare_on_rank0(path, signature, overwrite, resolve, info, logger):
    state = round_dir_state(path)
    if state == 'foreign':
        raise PseudoLabelDirError(
            f'{path} exists but is not a pseudo-label folder written by '
            'mmbdl (no .complete.json / .in_progress.json); choose a new or '
            'empty output folder, nothing there was changed')
    if state == 'complete':
        meta = read_json(osp.join(path, COMPLETE_FILE))
        differing = signature_mismatch(meta, signature)
        if not differing:
            return meta
        if resolve is not None:
            action = resolve(meta, differing)
        else:
            action = 'regenerate' if overwrite else 'refuse'
        if action == 'reuse':
            return meta
        what = ', '.join('weights' if k == 'fingerprint' else k
                         for k in differing)
        if action == 'refuse':
            raise PseudoLabelDirError(
                f'{path} already holds a complete pseudo-label round made '
                f'from {_describe(meta)}, but this run differs in: {what}; '
                'pass --overwrite '
                '(tools/pseudo_label.py) or overwrite=True '
                '(PseudoLabelHook) to replace it, or choose another folder')
        if logger is not None:
            logger.warning(f'replacing the complete pseudo-label round {path} '
                           f'(this run differs in: {what})')
    elif state == 'incomplete' and logger is not None:
        logger.warning(f'{path} holds an unfinished pseudo-label round; '
                       'redoing it from scratch')
    reset_round_dir(path, info)
    return None


def check_unique_labels(paths: Sequence[str], rels: Sequence[str]) -> None:
    """Refuse two target images that would share a pseudo-label file.

    Args:
        paths (Sequence[str]): Image paths.
        rels (Sequence[str]): Their pseudo-label names.
    """
    seen: Dict[str, str] = {}
    for path, rel in zip(paths, rels):
        if rel in seen:
            raise ConfigCheckError(
                f'target images {seen[rel]} and {path} map to the same '
                f'pseudo-label {rel}.png; keep one of them')
        seen[rel] = path


def write_pseudo_label(out_dir: str, rel: str, pred: np.ndarray,
                       conf: np.ndarray, gt: Optional[np.ndarray],
                       rule: PseudoLabelRule, stats: PseudoLabelStatistics,
                       prob=None) -> None:
    """Apply the rule to one image's prediction and write its label PNG
    (and its weight PNG for a rule with weights).

    Args:
        out_dir (str): The round folder.
        rel (str): The label's name relative to it (without ``.png``).
        pred (np.ndarray): uint8 argmax (255 in ignored margins).
        conf (np.ndarray): float32 confidence.
        gt (np.ndarray, optional): Target labels (statistics only).
        rule (PseudoLabelRule): The round's rule (fitted if it needs it).
        stats (PseudoLabelStatistics): Updated with the image.
        prob (Tensor, optional): ``(1, C, H, W)`` probabilities, for a rule
            that needs more than the maximum (``uses_max_prob=False``).
    """
    num_classes = stats.num_classes
    valid = pred < num_classes
    safe = np.where(valid, pred, 0)
    if rule.uses_max_prob:
        keep, weight = rule.keep_weight(safe, conf)
    else:
        label, weight = rule.select(prob)
        keep = label[0].cpu().numpy() != IGNORE_INDEX
        weight = None if weight is None else weight[0].cpu().numpy()
    keep = valid & keep
    if weight is not None:
        weight = np.where(valid, np.rint(weight * np.float32(255.0)),
                          0).astype(np.uint8)
        write_label_png(weight, pseudo_weight_path(out_dir, rel))
    label = np.where(keep, pred, IGNORE_INDEX).astype(np.uint8)
    write_label_png(label, pseudo_label_path(out_dir, rel))
    stats.update(pred, keep, gt, weight)


def finish_round(out_dir: str, cache_dir: str, summary: Dict, meta: Dict,
                 logger) -> None:
    """Remove the cache, write the statistics and mark the round complete
    (main process only).

    Args:
        out_dir (str): The round folder.
        cache_dir (str): The round's cache folder.
        summary (dict): ``PseudoLabelStatistics.to_dict`` output.
        meta (dict): The ``.complete.json`` contents.
        logger (MMLogger): Logger.
    """
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
