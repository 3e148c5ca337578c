"""Counting tensor-to-host reads (the host syncs of a GPU run) on any device.

On a GPU, ``t.item()``, ``float(t)``, ``int(t)``, ``bool(t)``,
``t.tolist()`` and ``t.numpy()`` wait for every queued kernel before they
return: a training step that makes one stalls the device queue. On a CPU
the same calls are free, but they are the same calls, so counting them on
the CPU shows where a GPU run would wait. :class:`HostSyncCounter` patches
those methods of ``torch.Tensor`` while active and records each call by
call site (file and line of the first frame outside torch's tensor
module).

It does not see the syncs that no Python call makes visible (a boolean-mask
index, ``torch.unique``, ``nonzero``): on a GPU,
``torch.cuda.set_sync_debug_mode('warn')`` reports those too.
"""
import collections
import os.path as osp
import sys
from typing import Counter, Dict, Optional, Tuple

import torch

METHODS = ('item', 'tolist', 'numpy', '__float__', '__int__', '__bool__',
           '__index__')
_TORCH_DIR = osp.dirname(torch.__file__)
_THIS = osp.abspath(__file__)

# (file, line, method, function)
Site = Tuple[str, int, str, str]
# mmbdl functions that read tensors made on the host by design (labels as
# the data loader delivers them, before the pre-processor moves them): no
# device to wait for, listed apart
HOST_SIDE_FUNCTIONS = frozenset({'_check_label_values'})


class HostSyncCounter:
    """Context manager counting tensor-to-host reads by call site.

    Example::

        with HostSyncCounter() as counter:
            model.train_step(batch, optim_wrapper)
        print(counter.total, counter.by_site())

    Args:
        enabled (bool): Count (True) or pass everything through. Defaults
            to True.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.calls: Counter[Site] = collections.Counter()
        self._saved: Dict[str, object] = {}
        self._active = 0

    # ------------------------------------------------------------------
    def __enter__(self) -> 'HostSyncCounter':
        for name in METHODS:
            original = getattr(torch.Tensor, name)
            self._saved[name] = original
            setattr(torch.Tensor, name, self._wrap(name, original))
        return self

    def __exit__(self, *exc) -> None:
        for name, original in self._saved.items():
            setattr(torch.Tensor, name, original)
        self._saved = {}

    def _wrap(self, name: str, original):
        counter = self

        def counted(tensor, *args, **kwargs):
            # nested reads (e.g. __index__ inside numpy()) count once
            if counter.enabled and not counter._active:
                counter.calls[_call_site(name)] += 1
            counter._active += 1
            try:
                return original(tensor, *args, **kwargs)
            finally:
                counter._active -= 1

        counted.__name__ = getattr(original, '__name__', name)
        return counted

    # ------------------------------------------------------------------
    @property
    def total(self) -> int:
        """int: All counted reads."""
        return sum(self.calls.values())

    def by_site(self, root: Optional[str] = None) -> Dict[Site, int]:
        """Counts per ``(file, line, method)``, optionally under ``root``.

        Args:
            root (str, optional): Keep only call sites in files below this
                folder (e.g. the ``mmbdl`` package). Defaults to None.

        Returns:
            dict: Sorted by count, largest first.
        """
        items = self.calls.items()
        if root is not None:
            root = osp.abspath(root)
            items = [(k, v) for k, v in items
                     if osp.abspath(k[0]).startswith(root + osp.sep)]
        return dict(sorted(items, key=lambda kv: (-kv[1], kv[0])))

    def reset(self) -> None:
        """Forget the counts."""
        self.calls.clear()


def _call_site(method: str) -> Site:
    """The first frame outside torch's own Python code and this module."""
    frame = sys._getframe(2)
    while frame is not None:
        filename = osp.abspath(frame.f_code.co_filename)
        if filename != _THIS and not filename.startswith(_TORCH_DIR +
                                                         osp.sep):
            return filename, frame.f_lineno, method, frame.f_code.co_name
        frame = frame.f_back
    return '<unknown>', 0, method, '<unknown>'


class PhaseSyncCounts:
    """Counts the host reads inside ``model.train_step``, per phase kind.

    Installs a counting ``train_step`` on the model instance (a BDL model
    with a ``phase`` attribute, or any model: then under ``'train_step'``)
    and restores the class's method on :meth:`remove`.

    Args:
        model (nn.Module): The runner's model (unwrapped).
    """

    def __init__(self, model) -> None:
        self.model = model
        self.counters: Dict[str, HostSyncCounter] = {}
        self.steps: Counter[str] = collections.Counter()
        plain = model.train_step

        def counted(*args, **kwargs):
            kind = str(getattr(model, 'phase', None) or 'train_step')
            counter = self.counters.setdefault(kind, HostSyncCounter())
            self.steps[kind] += 1
            with counter:
                return plain(*args, **kwargs)

        model.train_step = counted

    def remove(self) -> None:
        """Restore the model's own ``train_step``."""
        self.model.__dict__.pop('train_step', None)

    def table(self, root: Optional[str] = None) -> Dict[str, Dict]:
        """Per kind: steps, all reads and the reads under ``root``.

        Args:
            root (str, optional): A package folder whose call sites are
                listed (e.g. ``mmbdl``'s). Defaults to None.

        Returns:
            dict: ``{kind: dict(steps, total, sites={'file:line method':
            count}, host_side={...})}``; ``host_side`` holds the reads in
            :data:`HOST_SIDE_FUNCTIONS`, ``sites`` the others.
        """
        out = {}
        for kind, counter in self.counters.items():
            sites = counter.by_site(root) if root else counter.by_site()
            row = dict(steps=self.steps[kind], total=counter.total,
                       sites={}, host_side={})
            for (f, line, method, func), n in sites.items():
                key = 'host_side' if func in HOST_SIDE_FUNCTIONS else 'sites'
                row[key][f'{osp.relpath(f)}:{line} {method} ({func})'] = n
            out[kind] = row
        return out
