"""Hooks that measure every phase of a BDL run for the rehearsal.

Two hooks share one :class:`PhaseRecorder`: ``RehearsalProbeOpen`` runs
first (priority ``VERY_HIGH``) and ``RehearsalProbeClose`` last
(``VERY_LOW``) for the same event, so the time between them is the work of
the other hooks on that event: pseudo-labelling in ``before_phase``, the
source translation S' in ``after_phase``. Per phase it records RSS before
and after (after a garbage collection), the peak RSS of the process tree
(training process + dataloader workers) per section, CUDA max allocated,
the step times, the FLOPs of the first step
(``flop_count.TotalFlopCounter``; that step is not timed), the data-set
build and validation times.
"""
import time
from typing import Any, Dict, List, Optional

from mmbdl.engine.hooks import BDLHook
from .flop_count import TotalFlopCounter
from .memory import (PeakSampler, cuda_max_allocated, peak_rss_bytes,
                     release_memory, reset_peak_rss, rss_bytes, tree_rss_bytes)


class PhaseRecorder:
    """Per-phase measurements, filled by the two probe hooks.

    Args:
        count_flops (bool): Count the FLOPs of each phase's first step.
            Defaults to True.
    """

    def __init__(self, count_flops: bool = True) -> None:
        self.count_flops = count_flops
        self.phases: List[Dict[str, Any]] = []
        self.sampler = PeakSampler()
        self.current: Optional[Dict[str, Any]] = None
        self._marks: Dict[str, float] = {}
        self._flops: Optional[TotalFlopCounter] = None
        self._local = 0
        self.build_seconds: List[float] = []

    # helpers --------------------------------------------------------------
    def mark(self, name: str) -> None:
        self._marks[name] = time.perf_counter()

    def since(self, name: str) -> float:
        return time.perf_counter() - self._marks[name]

    def section_peak(self) -> int:
        return self.sampler.take()

    def close_previous(self) -> None:
        """RSS after the previous phase (its checkpoint and hooks done)."""
        if self.current is None:
            return
        release_memory()
        self.current['rss_after'] = rss_bytes()
        self.current['tree_rss_after'] = tree_rss_bytes()
        self.current['peak_rss_tail'] = self.section_peak()
        self.current['seconds_total'] = self.since('phase')

    def open_phase(self, phase) -> None:
        self.close_previous()
        release_memory()
        reset_peak_rss()
        self.section_peak()
        cuda_max_allocated(reset=True)
        self.current = dict(
            name=phase.name, kind=phase.kind, k=phase.k, i=phase.i,
            iters=phase.iters, rss_before=rss_bytes(),
            tree_rss_before=tree_rss_bytes(), step_seconds=[],
            data_seconds=[], flops_per_step=None, val=None)
        self.phases.append(self.current)
        self._local = 0
        self.mark('phase')
        self.mark('before_phase')


class RehearsalProbeOpen(BDLHook):
    """First hook on each event: opens the measured sections."""

    priority = 'VERY_HIGH'

    def __init__(self, recorder: PhaseRecorder) -> None:
        self.rec = recorder

    def before_phase(self, runner, phase) -> None:
        self.rec.open_phase(phase)

    def before_train_epoch(self, runner) -> None:
        rec = self.rec
        if rec.current is not None:
            rec.current['setup_seconds'] = rec.since('before_phase_done')
            rec.current['dataset_build_seconds'] = sum(rec.build_seconds)
            rec.build_seconds.clear()
            rec.mark('iter_end')

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        rec = self.rec
        if rec.current is None:
            return
        rec.current['data_seconds'].append(rec.since('iter_end'))
        if rec._local == 0 and rec.count_flops:
            rec._flops = TotalFlopCounter()
            rec._flops.__enter__()
        rec.mark('iter')

    def before_val_epoch(self, runner) -> None:
        self.rec.mark('val')

    def after_phase(self, runner, phase) -> None:
        rec = self.rec
        if rec.current is None:
            return
        rec.current['train_peak_rss'] = rec.section_peak()
        rec.current['train_peak_rss_main'] = peak_rss_bytes()
        rec.current['cuda_max_allocated'] = cuda_max_allocated(reset=True)
        reset_peak_rss()
        rec.mark('after_phase')


class RehearsalProbeClose(BDLHook):
    """Last hook on each event: closes the sections the opener started."""

    priority = 'VERY_LOW'

    def __init__(self, recorder: PhaseRecorder) -> None:
        self.rec = recorder

    def before_phase(self, runner, phase) -> None:
        rec = self.rec
        rec.current['before_phase_seconds'] = rec.since('before_phase')
        rec.current['before_phase_peak_rss'] = rec.section_peak()
        rec.current['before_phase_peak_rss_main'] = peak_rss_bytes()
        msg = runner.message_hub
        rec.current['pseudo_label_dir'] = msg.get_info('pseudo_label_dir') \
            if phase.kind == 'self_training' else None
        reset_peak_rss()
        rec.mark('before_phase_done')

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        rec = self.rec
        if rec.current is None:
            return
        seconds = rec.since('iter')
        if rec._flops is not None:
            rec._flops.__exit__(None, None, None)
            rec.current['flops_per_step'] = rec._flops.get_total_flops()
            rec.current['flop_step_seconds'] = seconds
            rec._flops = None
            # the counted step's peak is kept apart (counting slows the step
            # and may add temporaries); the train peak is taken over the
            # uncounted steps
            rec.current['flop_step_peak_rss'] = rec.section_peak()
            reset_peak_rss()
        else:
            rec.current['step_seconds'].append(seconds)
        rec._local += 1
        rec.mark('iter_end')

    def after_val_epoch(self, runner, metrics=None) -> None:
        rec = self.rec
        if rec.current is None:
            return
        dataset = runner.val_loop.dataloader.dataset
        rec.current['val'] = dict(seconds=rec.since('val'),
                                  images=len(dataset))

    def after_phase(self, runner, phase) -> None:
        rec = self.rec
        if rec.current is None:
            return
        rec.current['after_phase_seconds'] = rec.since('after_phase')
        rec.current['after_phase_peak_rss'] = rec.section_peak()
        rec.current['after_phase_peak_rss_main'] = peak_rss_bytes()
        msg = runner.message_hub
        if phase.kind == 'translation':
            rec.current['translated_source_dir'] = msg.get_info(
                'translated_source_dir')
        rec.mark('tail')

    def after_train(self, runner) -> None:
        self.rec.close_previous()
