"""Run the rehearsal config with the probe hooks and collect the records."""
import os.path as osp
import time
from typing import Dict, List, Tuple

from mmengine.runner import Runner

from .flop_count import TotalFlopCounter
from .probe_hooks import PhaseRecorder, RehearsalProbeClose, RehearsalProbeOpen
from .synthetic_data import folder_bytes


def _timed_dataset_builds(recorder: PhaseRecorder):
    """Wrap the loop's phase-dataloader builder to time each build."""
    from mmbdl.engine.runner import bidirectional_loop as loop_module
    original = getattr(loop_module, 'build_phase_dataloader', None)
    if original is None:
        return lambda: None

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            recorder.build_seconds.append(time.perf_counter() - start)

    loop_module.build_phase_dataloader = timed

    def restore():
        loop_module.build_phase_dataloader = original

    return restore


class _CountedJob:
    """FLOPs and wall time of the per-image job inside a phase hook."""

    def __init__(self) -> None:
        self.mode = None
        self.start = 0.0

    def open(self) -> None:
        self.mode = TotalFlopCounter()
        self.mode.__enter__()
        self.start = time.perf_counter()

    def close(self) -> Tuple[float, int]:
        seconds = time.perf_counter() - self.start
        self.mode.__exit__(None, None, None)
        flops = self.mode.get_total_flops()
        self.mode = None
        return seconds, flops


class JobProbeOpen(RehearsalProbeOpen):
    """Adds FLOP counting of the hooks' per-image work and of validation."""

    def __init__(self, recorder: PhaseRecorder, job: _CountedJob) -> None:
        super().__init__(recorder)
        self.job = job

    def before_phase(self, runner, phase) -> None:
        super().before_phase(runner, phase)
        self.job.open()

    def after_phase(self, runner, phase) -> None:
        super().after_phase(runner, phase)
        self.job.open()

    def before_val_epoch(self, runner) -> None:
        rec = self.rec
        if rec.current is not None and 'train_peak_rss' not in rec.current:
            rec.current['train_peak_rss'] = rec.section_peak()
        super().before_val_epoch(runner)
        self.job.open()


class JobProbeClose(RehearsalProbeClose):
    """Closes what :class:`JobProbeOpen` opened and stores the figures."""

    def __init__(self, recorder: PhaseRecorder, job: _CountedJob) -> None:
        super().__init__(recorder)
        self.job = job

    def before_phase(self, runner, phase) -> None:
        seconds, flops = self.job.close()
        super().before_phase(runner, phase)
        if phase.kind == 'self_training':
            pl_dir = self.rec.current.get('pseudo_label_dir')
            self.rec.current['pseudo_label'] = dict(
                seconds=seconds, flops=flops, images=_count_pngs(pl_dir),
                peak_rss=self.rec.current['before_phase_peak_rss'],
                cache_bytes=folder_bytes(pl_dir) if pl_dir else None,
                dir=pl_dir)

    def after_phase(self, runner, phase) -> None:
        seconds, flops = self.job.close()
        super().after_phase(runner, phase)
        if phase.kind == 'translation':
            out = self.rec.current.get('translated_source_dir')
            self.rec.current['translation'] = dict(
                seconds=seconds, flops=flops, images=_count_pngs(out),
                bytes=folder_bytes(out) if out else None, dir=out,
                peak_rss=self.rec.current['after_phase_peak_rss'])

    def after_val_epoch(self, runner, metrics=None) -> None:
        seconds, flops = self.job.close()
        super().after_val_epoch(runner, metrics)
        val = self.rec.current['val']
        val.update(seconds=seconds, flops=flops,
                   peak_rss=self.rec.section_peak())


def _count_pngs(folder) -> int:
    if not folder or not osp.isdir(folder):
        return 0
    import os
    return sum(name.endswith('.png') and not name.startswith('.')
               for _, _, files in os.walk(folder) for name in files)


def run(cfg, args) -> Tuple[List[Dict], Dict[str, int], str]:
    """Train the rehearsal config; return the phase records and checkpoints.

    A stop (Ctrl-C, SIGTERM, an error) ends the run but not the report:
    the phases measured so far are returned with the reason.

    Args:
        cfg (Config): :func:`config_setup.rehearsal_config`'s result.
        args: Parsed arguments (``no_flops``).

    Returns:
        tuple: Phase records, ``{checkpoint file: bytes}`` and the reason
        the run stopped early ('' when it completed).
    """
    import signal
    import traceback

    def terminate(signum, frame):
        raise KeyboardInterrupt(f'signal {signum}')

    signal.signal(signal.SIGTERM, terminate)
    stopped = ''
    recorder = PhaseRecorder(count_flops=not args.no_flops)
    job = _CountedJob()
    restore = _timed_dataset_builds(recorder)
    try:
        runner = Runner.from_cfg(cfg)
        runner.register_hook(JobProbeOpen(recorder, job), 'VERY_HIGH')
        runner.register_hook(JobProbeClose(recorder, job), 'VERY_LOW')
        runner.train()
    except (Exception, KeyboardInterrupt) as err:  # noqa: BLE001
        where = recorder.current['name'] if recorder.current else 'set-up'
        stopped = f'{type(err).__name__} during {where}: {err}'
        traceback.print_exc()
        if recorder.current is not None:
            recorder.current['stopped'] = stopped
    finally:
        for mode in (recorder._flops, job.mode):  # a stop inside a count
            if mode is not None:
                mode.__exit__(None, None, None)
        restore()
        recorder.sampler.stop()
    checkpoints = {}
    for record in recorder.phases:
        path = osp.join(cfg.work_dir, f'{record["name"]}.pth')
        if osp.isfile(path):
            checkpoints[record['name']] = osp.getsize(path)
            record['checkpoint_bytes'] = checkpoints[record['name']]
    return recorder.phases, checkpoints, stopped


def bulky_outputs(phases: List[Dict]) -> List[str]:
    """S' and pseudo-label folders of the run (removed after the report)."""
    out = []
    for record in phases:
        for key in ('translation', 'pseudo_label'):
            job = record.get(key) or {}
            if job.get('dir'):
                out.append(job['dir'])
    return out
