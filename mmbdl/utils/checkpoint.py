"""Safe loading of MMEngine checkpoints under torch >= 2.6.

torch >= 2.6 defaults ``torch.load`` to ``weights_only=True``; MMEngine 0.10.7
calls it without that argument, so its own checkpoints (which hold a message
hub with ``HistoryBuffer`` objects and numpy values) fail to load. Instead of
switching the safe loader off, the classes that MMEngine and mmbdl
checkpoints contain are allow-listed once, here, and MMEngine's local
checkpoint loader is wrapped so that a refused class is reported in one line,
as is a file that cannot be read (truncated or damaged), with its name.
"""
import pickle
import zipfile
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

from .checkpoint_files import (UnreadableCheckpointError, unreadable_message,
                               unreadable_reason)
from .errors import MMBDLUserError

_REGISTERED = False


def _safe_globals() -> List:
    """Classes and functions found in MMEngine/mmbdl checkpoints."""
    import collections

    from mmengine.config import ConfigDict
    from mmengine.logging import HistoryBuffer
    objs = [
        # HistoryBuffer pickles its statistics methods as
        # getattr(HistoryBuffer, 'mean'); the safe unpickler still calls only
        # allow-listed callables, so getattr can only look attributes up.
        getattr,
        HistoryBuffer, ConfigDict, collections.OrderedDict,
        collections.defaultdict, np.ndarray, np.dtype,
        np.core.multiarray._reconstruct, np.core.multiarray.scalar
    ]
    # The dtype classes (numpy >= 1.25) that pickled arrays/scalars reference.
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        for name in dir(dtypes):
            obj = getattr(dtypes, name)
            if isinstance(obj, type) and issubclass(obj, np.dtype):
                objs.append(obj)
    return objs


def register_checkpoint_safe_globals(extra: Optional[List] = None) -> None:
    """Allow-list checkpoint classes and install a clear-error loader.

    Idempotent. Called when ``mmbdl`` is imported.

    Args:
        extra (list, optional): More classes to allow-list. Defaults to None.
    """
    global _REGISTERED
    if hasattr(torch.serialization, 'add_safe_globals'):
        torch.serialization.add_safe_globals(_safe_globals() +
                                             list(extra or []))
    if _REGISTERED:
        return
    from mmengine.runner.checkpoint import CheckpointLoader
    local_loader = CheckpointLoader._schemes.get('')
    if local_loader is None:  # pragma: no cover - mmengine layout changed
        return
    CheckpointLoader.register_scheme(
        prefixes='', loader=_explain_refusals(local_loader), force=True)
    from .pretrained_weights import register_pretrained_scheme
    register_pretrained_scheme()
    _REGISTERED = True


def _explain_refusals(loader: Callable) -> Callable:
    """Wrap a checkpoint loader so refused classes give one clear line."""

    def load(filename, map_location=None, *args, **kwargs):
        try:
            return loader(filename, map_location, *args, **kwargs)
        except (RuntimeError, EOFError, OSError, zipfile.BadZipFile) as err:
            # a truncated or damaged file: name it and the fix; any other
            # failure keeps its traceback
            reason = unreadable_reason(filename) if isinstance(
                filename, str) and not isinstance(
                    err, FileNotFoundError) else None
            if reason is None:
                raise
            raise UnreadableCheckpointError(
                unreadable_message(filename, reason)) from err
        except pickle.UnpicklingError as err:
            msg = str(err)
            name = _refused_name(msg)
            raise CheckpointRefusedError(
                f'{filename}: refused to unpickle {name or "an object"}, '
                'which is not on the checkpoint allow-list (torch.load runs '
                'with weights_only=True). If you trust this file, allow the '
                'class with mmbdl.utils.register_checkpoint_safe_globals('
                'extra=[...]); otherwise re-save the checkpoint with plain '
                'tensors.') from None

    load.__wrapped__ = loader
    return load


def _refused_name(message: str) -> str:
    """Extract the refused global's dotted name from torch's message."""
    for marker in ('Unsupported global: GLOBAL ', 'GLOBAL '):
        if marker in message:
            return message.split(marker, 1)[1].split()[0].rstrip('.,')
    return ''


class CheckpointRefusedError(MMBDLUserError, pickle.UnpicklingError):
    """A checkpoint holds an object outside the allow-list."""


# ----------------------------------------------------------------------
# key matching: loads that cannot silently miss
class KeyMatch:
    """How the keys of a checkpoint fit the module they are loaded into.

    Args:
        what (str): Name of the load for messages (e.g. ``load_from x.pth``).
        matched (list[str]): Module keys found with the same shape.
        missing (list[str]): Module keys the checkpoint lacks.
        unexpected (list[str]): Checkpoint keys the module lacks.
        shape_mismatch (list[str]): Keys found with another shape.
    """

    def __init__(self, what: str, matched: List[str], missing: List[str],
                 unexpected: List[str], shape_mismatch: List[str]) -> None:
        self.what = what
        self.matched = matched
        self.missing = missing
        self.unexpected = unexpected
        self.shape_mismatch = shape_mismatch

    @property
    def total(self) -> int:
        """int: Keys of the target module."""
        return len(self.matched) + len(self.missing) + len(
            self.shape_mismatch)

    @property
    def ratio(self) -> float:
        """float: Share of the target module's keys that match."""
        return len(self.matched) / self.total if self.total else 0.0

    def summary(self) -> str:
        """str: One line with the matched / missing / unexpected counts."""
        return (f'{self.what}: {len(self.matched)}/{self.total} keys '
                f'matched, {len(self.missing)} missing, '
                f'{len(self.unexpected)} unexpected, '
                f'{len(self.shape_mismatch)} with another shape')


def _strip_module(key: str) -> str:
    return key[len('module.'):] if key.startswith('module.') else key


def match_keys(state: Dict, target: Dict, what: str) -> KeyMatch:
    """Compare a checkpoint's state dict with a module's.

    Args:
        state (dict): Checkpoint keys -> tensors (``module.`` is ignored).
        target (dict): The module's ``state_dict()`` (or the part of it that
            the checkpoint is meant for).
        what (str): Name of the load for messages.

    Returns:
        KeyMatch: The comparison.
    """
    theirs = {_strip_module(k): v for k, v in state.items()}
    matched, missing, shapes = [], [], []
    for key, value in target.items():
        if key not in theirs:
            missing.append(key)
        elif tuple(getattr(theirs[key], 'shape', ())) != tuple(
                getattr(value, 'shape', ())):
            shapes.append(key)
        else:
            matched.append(key)
    unexpected = [k for k in theirs if k not in target]
    return KeyMatch(what, matched, missing, unexpected, shapes)


def suggest_prefix_fix(checkpoint_keys: List[str],
                       target_keys: List[str],
                       min_hits: int = 1) -> Optional[str]:
    """The prefix change that makes most checkpoint keys fit the module.

    Tries removing a leading part of the checkpoint keys and adding a
    leading part of the module keys (up to three dotted levels each).

    Args:
        checkpoint_keys (list[str]): Keys of the checkpoint.
        target_keys (list[str]): Keys of the module.
        min_hits (int): Fewest keys the change must make match (a change
            that fits a handful of keys by coincidence is no fix).
            Defaults to 1.

    Returns:
        str | None: e.g. ``"add the prefix 'segmentor.'"``, or None if no
        change helps.
    """
    target = set(target_keys)

    def heads(keys):
        found = {''}
        for key in keys:
            parts = key.split('.')
            for n in range(1, min(4, len(parts))):
                found.add('.'.join(parts[:n]) + '.')
        return found

    ckpt = [_strip_module(k) for k in checkpoint_keys]
    best, best_hits = None, sum(k in target for k in ckpt)
    for remove in heads(ckpt):
        stripped = [k[len(remove):] for k in ckpt if k.startswith(remove)]
        for add in heads(target_keys):
            if not remove and not add:
                continue
            hits = sum(add + k in target for k in stripped)
            if hits > best_hits:
                best, best_hits = (remove, add), hits
    if best is None or best_hits < min_hits:
        return None
    remove, add = best
    parts = []
    if remove:
        parts.append(f'remove the prefix {remove!r}')
    if add:
        parts.append(f'add the prefix {add!r}')
    return (' and '.join(parts) + f' ({best_hits} of {len(target)} keys '
            'would then match)')


def check_key_match(match: KeyMatch,
                    min_ratio: float = 0.5,
                    logger=None) -> KeyMatch:
    """Log the counts of a load and stop when too few keys match.

    Args:
        match (KeyMatch): Result of :func:`match_keys`.
        min_ratio (float): Smallest acceptable share of the target module's
            keys that match. Defaults to 0.5.
        logger (MMLogger, optional): Defaults to the current MMLogger.

    Returns:
        KeyMatch: ``match``, for chaining.

    Raises:
        ConfigCheckError: With the first keys on each side and the likely
            prefix fix when fewer than ``min_ratio`` of the keys match.
    """
    from mmengine.logging import MMLogger
    logger = logger or MMLogger.get_current_instance()
    logger.info(match.summary())
    if match.total and match.ratio >= min_ratio:
        if match.missing or match.shape_mismatch:
            logger.warning(
                f'{match.what}: not loaded: '
                f'{(match.missing + match.shape_mismatch)[:5]}'
                + (' ...' if len(match.missing) + len(match.shape_mismatch)
                   > 5 else ''))
        return match
    checkpoint_keys = match.matched + match.unexpected + match.shape_mismatch
    module_keys = match.matched + match.missing + match.shape_mismatch
    fix = suggest_prefix_fix(checkpoint_keys, module_keys)
    from .errors import ConfigCheckError
    raise ConfigCheckError(
        f'{match.summary()}: fewer than {min_ratio:.0%} of the module\'s '
        f'keys match. Checkpoint keys: {sorted(checkpoint_keys)[:4]}; module '
        f'keys: {sorted(module_keys)[:4]}. '
        + (f'Likely fix: {fix}. ' if fix else '')
        + 'Use a checkpoint of this architecture (release checkpoints: '
        'tools/model_converters/bdl_to_mmbdl.py, with --prefix for the '
        'module it is loaded into)')
