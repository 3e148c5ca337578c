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
from typing import Callable, List, Optional

import numpy as np
import torch

from ..errors import MMBDLUserError
from .checkpoint_files import (UnreadableCheckpointError, unreadable_message,
                               unreadable_reason)

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
