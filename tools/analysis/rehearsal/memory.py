"""Process memory readings for the rehearsal: RSS, peak RSS, CUDA memory.

Linux only for the CPU figures: the current RSS of a process tree (the
training process and its dataloader workers) from ``/proc``, the kernel's
peak RSS of the process (``VmHWM``), which ``/proc/self/clear_refs`` resets,
and a sampler thread that records the peak memory of the whole tree (RSS
of a lone process, the sum of PSS when workers run) between two calls.
"""
import ctypes
import gc
import os
import threading
import time
from typing import List, Optional

import torch

GIB = 1024**3


def _status_kib(pid: int, field: str) -> int:
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> List[int]:
    kids = []
    try:
        for task in os.listdir(f'/proc/{pid}/task'):
            with open(f'/proc/{pid}/task/{task}/children') as f:
                kids += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return kids


def tree_pids(pid: Optional[int] = None) -> List[int]:
    """``pid`` (default: this process) and all its descendants."""
    pids, todo = [], [pid or os.getpid()]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo += _children(current)
    return pids


def rss_bytes(pid: Optional[int] = None) -> int:
    """Current RSS of one process."""
    return _status_kib(pid or os.getpid(), 'VmRSS') * 1024


def pss_bytes(pid: int) -> int:
    """Proportional set size of one process (shared pages split)."""
    try:
        with open(f'/proc/{pid}/smaps_rollup') as f:
            for line in f:
                if line.startswith('Pss:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return rss_bytes(pid)


def tree_rss_bytes(pid: Optional[int] = None) -> int:
    """Memory of a process and its descendants (dataloader workers).

    The sum of the PSS of every process: pages a forked worker shares with
    its parent are counted once, unlike a sum of RSS.
    """
    pids = tree_pids(pid)
    if len(pids) == 1:
        return rss_bytes(pids[0])
    return sum(pss_bytes(p) for p in pids)


def peak_rss_bytes() -> int:
    """Peak RSS of this process since start or the last reset."""
    return _status_kib(os.getpid(), 'VmHWM') * 1024


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS to its current RSS (Linux >= 4.0)."""
    try:
        with open(f'/proc/{os.getpid()}/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def release_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc)."""
    gc.collect()
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):
        pass
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class PeakSampler:
    """Samples the RSS of the process tree in a thread; keeps the peak.

    Args:
        interval (float): Seconds between samples. Defaults to 0.1.
    """

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self._peak = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            value = tree_rss_bytes()
            with self._lock:
                self._peak = max(self._peak, value)
            time.sleep(self.interval)

    def take(self) -> int:
        """Peak since the last ``take`` (then restart from the current)."""
        with self._lock:
            peak = max(self._peak, tree_rss_bytes())
            self._peak = 0
        return peak

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)


def cuda_max_allocated(reset: bool = True) -> Optional[int]:
    """CUDA max allocated bytes (None without CUDA); optionally reset."""
    if not torch.cuda.is_available():
        return None
    value = torch.cuda.max_memory_allocated()
    if reset:
        torch.cuda.reset_peak_memory_stats()
    return value
