"""Hand a finished phase's memory back before the next phase starts.

A phase leaves behind its dataloader's worker processes (persistent
workers live as long as the dataloader) and, in the training process, heap
pages that glibc keeps after the tensors on them are freed (the F phase
frees several GB of activations per step). The next phase forks its own
workers from the training process, so whatever the process still holds is
copied into every worker's address space. :func:`release_phase_memory` shuts
the workers down, collects garbage, returns free heap pages to the OS and
empties the CUDA cache.
"""
import ctypes
import gc
from typing import Optional

import torch

from mmbdl.utils.runner_internals import shutdown_workers


def trim_heap() -> bool:
    """Return free heap pages to the OS (glibc ``malloc_trim``).

    Returns:
        bool: Whether glibc's ``malloc_trim`` was called.
    """
    try:
        libc = ctypes.CDLL('libc.so.6')
    except OSError:
        return False
    trim = getattr(libc, 'malloc_trim', None)
    if trim is None:
        return False
    trim(0)
    return True


def release_phase_memory(dataloader: Optional[object] = None) -> None:
    """Workers down, garbage collected, heap trimmed, CUDA cache emptied.

    Args:
        dataloader (optional): The finished phase's dataloader.
    """
    if dataloader is not None:
        shutdown_workers(dataloader)
    gc.collect()
    trim_heap()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
