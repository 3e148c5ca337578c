"""A FLOP counter that leaves the counted step's memory alone.

``torch.utils.flop_counter.FlopCounterMode`` attributes FLOPs to modules with
a ``ModuleTracker``, whose global forward hooks put gradient hooks on every
module's inputs and outputs. On a translation (F) step, with its
checkpointed perceptual passes, that raised the step's peak RSS by more
than half (one F step at 160x160 with the DeepLabV2-R101 perceptual model,
batch 1: 1.89 GB uncounted, 3.02 GB under ``FlopCounterMode``); at the
paper's 452x452 crops and batch 4 the counted step alone needed about
20 GB. :class:`TotalFlopCounter` keeps the same dispatch-level counting
(same FLOP formulas, same total) but only one global total, so no module
hooks are installed.
"""
from torch.utils.flop_counter import FlopCounterMode


class _GlobalOnly:
    """Stands in for ``ModuleTracker``: every op counts towards 'Global'."""

    parents = frozenset({'Global'})

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


class TotalFlopCounter(FlopCounterMode):
    """``FlopCounterMode`` without per-module attribution.

    Use as a context manager; :meth:`get_total_flops` gives the total of the
    ops run inside it (forward and backward).
    """

    def __init__(self) -> None:
        super().__init__(display=False)
        self.mod_tracker = _GlobalOnly()
