"""The memory of a training step as a model of measured costs.

The memory one training step adds to a process that holds the model is

    step(kind, n) = fixed(kind) + per_pixel(kind) * n,  n = pixels x batch

``fixed`` does not grow with the input (gradients, optimizer states, the
allocator's and the libraries' working sets); ``per_pixel`` is the
activations' cost. Both are fitted per phase kind from one probe step at
each of two small input sizes, each step in a fresh forked process (CPU:
its peak RSS over its RSS at the fork; CUDA: in this process, the step's
max allocated bytes over those allocated before it). The estimate of a
phase's peak is the probing process's own size plus ``step`` at the
phase's real input.
"""
import multiprocessing as mp
import os
from typing import Callable, Dict, List, Sequence, Tuple

import torch

from .memory import peak_rss_bytes, release_memory, reset_peak_rss, rss_bytes


def fit_line(points: Sequence[Tuple[float, float]]) -> Dict[str, float]:
    """``fixed`` and ``per_pixel`` through two (or more) measured points.

    Least squares; a negative slope (two sizes whose difference is below
    the measurement's noise) is taken as 0, with ``fixed`` the largest
    measurement, so the estimate never falls below what was measured.

    Args:
        points (Sequence[tuple]): ``(pixels x batch, bytes)`` pairs, at
            least two different sizes.

    Returns:
        dict: ``fixed`` (bytes) and ``per_pixel`` (bytes per pixel).
    """
    if len({x for x, _ in points}) < 2:
        raise ValueError(f'need two different sizes, got {list(points)}')
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x)**2 for x, _ in points)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    slope = sxy / sxx
    if slope < 0:
        return dict(fixed=float(max(y for _, y in points)), per_pixel=0.0)
    return dict(fixed=mean_y - slope * mean_x, per_pixel=slope)


def predict(fit: Dict[str, float], pixels: float) -> float:
    """Bytes of a step with ``pixels`` (pixels x batch) input."""
    return fit['fixed'] + fit['per_pixel'] * pixels


def relative_error(estimate: float, measured: float) -> float:
    """``(estimate - measured) / measured`` (positive: an overestimate)."""
    return (estimate - measured) / measured


def _child(step: Callable[[], None], conn) -> None:
    try:
        torch.set_num_threads(1)
        release_memory()
        if not reset_peak_rss():
            raise OSError('cannot reset the peak RSS (/proc/self/clear_refs)')
        start = rss_bytes()
        step()
        conn.send(('ok', peak_rss_bytes() - start))
    except BaseException as err:  # noqa: BLE001 (reported to the parent)
        conn.send(('error', f'{type(err).__name__}: {err}'))
    finally:
        conn.close()
        os._exit(0)


def step_peak(step: Callable[[], None], device: str = 'cpu') -> int:
    """Bytes one step adds at its peak (see the module docstring).

    Args:
        step (Callable): Runs one training step (builds its own batch).
        device (str): 'cpu' (a forked child per call) or 'cuda'.

    Returns:
        int: The step's peak over what was held before it.

    Raises:
        RuntimeError: The step failed (the child's error).
    """
    if device.startswith('cuda'):
        release_memory()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        return int(torch.cuda.max_memory_allocated() - before)
    ctx = mp.get_context('fork')
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(step, child))
    proc.start()
    child.close()
    status, value = parent.recv()
    proc.join()
    if status != 'ok':
        raise RuntimeError(f'the memory probe step failed: {value}')
    return int(value)


def fit_step_memory(make_step: Callable[[float], Tuple[Callable, int]],
                    scales: Sequence[float],
                    device: str = 'cpu') -> Dict[str, object]:
    """Probe a step at ``scales`` of its real input and fit the model.

    Args:
        make_step (Callable): ``scale -> (step, pixels x batch)``; the step
            runs at ``scale`` times the real side lengths.
        scales (Sequence[float]): At least two scales.
        device (str): See :func:`step_peak`.

    Returns:
        dict: ``fixed``, ``per_pixel`` and ``probes`` (``[pixels x batch,
        bytes]`` per scale).
    """
    probes: List[List[float]] = []
    for scale in scales:
        step, pixels = make_step(scale)
        probes.append([pixels, step_peak(step, device)])
    fit = fit_line([tuple(p) for p in probes])
    return dict(fit, probes=probes)
