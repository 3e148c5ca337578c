"""Projection of the whole paper schedule from rehearsal measurements.

A rehearsal measures one short run; the projection scales it to the
config's real plan (``train_cfg``: K, N, source-only, ``phase_iters``) and
the real data-set sizes: training time per phase (iterations x the measured
step time of its kind), the source translations S'(k), the pseudo-labels,
the evaluations, the data-set builds, and the disk the checkpoints, S' and
pseudo-label caches take. On a GPU the same plan is costed from the GPU's
throughput: step times measured by ``gpu_check.sh`` when given, else the
step's FLOPs over an assumed throughput, which the report marks as an
assumption.
"""
import statistics
from typing import Dict, List, Optional

from mmbdl.engine.runner.phase_kinds import PSEUDO_LABELS
from mmbdl.engine.runner.phase_plan import (lookup, normalise_plan, plan_from,
                                            plan_kinds, plan_phases)
from .synthetic_data import REAL_COUNTS

# used only when no gpu_check.sh measurement is given; printed as such
ASSUMED_GPU_TFLOPS = 20.0
ASSUMED_GPU_NOTE = (
    f'ASSUMPTION: {ASSUMED_GPU_TFLOPS:g} TFLOP/s sustained (fp32/TF32 '
    'convolution training on one data-centre GPU); run '
    'tools/analysis/gpu_check.sh on the GPU and pass its JSON with '
    '--gpu-json for measured figures')


def paper_plan(train_cfg: dict) -> List:
    """The phases of the config's full schedule.

    Args:
        train_cfg (dict): The config's ``train_cfg`` (BidirectionalTrainLoop).

    Returns:
        list[Phase]: The plan (``train_cfg.plan`` when the config has one,
        else the paper's from K, N and the source-only switch).
    """
    phase_iters = train_cfg.get('phase_iters', {})
    if train_cfg.get('plan') is not None:
        plan = normalise_plan(train_cfg['plan'])
        iters = {kind: lookup(phase_iters, kind)
                 for kind in plan_kinds(plan)}
        return plan_from(train_cfg.get('num_rounds', 2), plan, iters)
    num_ssl = train_cfg.get('num_ssl_rounds', 2)
    source_only = train_cfg.get('source_only', True)
    kinds = ['translation', 'adaptation']
    if num_ssl:
        kinds.append('self_training')
    if source_only:
        kinds.append('source_only')
    iters = {kind: lookup(phase_iters, kind) for kind in kinds}
    return plan_phases(train_cfg.get('num_rounds', 2), num_ssl, source_only,
                       iters)


def _median(values: List[float]) -> Optional[float]:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def kind_figures(phases: List[dict]) -> Dict[str, dict]:
    """Measured figures per phase kind (medians over the phases of a kind).

    Args:
        phases (list[dict]): The rehearsal's phase records.

    Returns:
        dict: Per kind ``step_seconds``, ``flops_per_step``.
    """
    out: Dict[str, dict] = {}
    for kind in {p['kind'] for p in phases}:
        same = [p for p in phases if p['kind'] == kind]
        steps = [s for p in same for s in p.get('step_seconds', [])]
        if not steps:  # only the FLOP-counted step ran (--iters 1)
            steps = [p['flop_step_seconds'] for p in same
                     if p.get('flop_step_seconds')]
        out[kind] = dict(
            step_seconds=_median(steps),
            flops_per_step=_median([p.get('flops_per_step') for p in same]))
    return out


def per_image(phases: List[dict], key: str) -> Optional[dict]:
    """Seconds and FLOPs per image of a per-image job (translation...)."""
    jobs = [p[key] for p in phases if p.get(key)]
    if not jobs:
        return None
    images = sum(j['images'] for j in jobs)
    seconds = sum(j['seconds'] for j in jobs)
    flops = [j.get('flops') for j in jobs if j.get('flops')]
    return dict(seconds_per_image=seconds / images,
                images_per_second=images / seconds if seconds else None,
                flops_per_image=sum(flops) / images if flops else None)


def project(train_cfg: dict, source: str, kinds: Dict[str, dict],
            jobs: Dict[str, Optional[dict]], cpu_flops: float,
            gpu: Optional[dict] = None) -> dict:
    """Whole-schedule projection on this machine and on a GPU.

    Args:
        train_cfg (dict): The config's full ``train_cfg``.
        source (str): 'gta5' or 'synthia'.
        kinds (dict): :func:`kind_figures` (or FLOP-only estimates).
        jobs (dict): ``translation``, ``pseudo_label``, ``val`` per-image
            figures of :func:`per_image` (None where not measured).
        cpu_flops (float): Measured FLOP/s of this machine.
        gpu (dict, optional): ``tflops`` and optionally ``step_seconds``
            per kind and ``note``, from gpu_check.sh. Defaults to None
            (the assumption).

    Returns:
        dict: ``rows`` (one per cost item) and totals in seconds.
    """
    plan = paper_plan(train_cfg)
    gpu = dict(gpu or {})
    gpu_flops = float(gpu.get('tflops') or ASSUMED_GPU_TFLOPS) * 1e12
    gpu_note = gpu.get('note') or (
        'measured by gpu_check.sh' if gpu.get('tflops') else ASSUMED_GPU_NOTE)
    gpu_steps = gpu.get('step_seconds') or {}
    rows = []

    def gpu_seconds(cpu_seconds, flops, measured=None):
        if measured is not None:
            return measured
        if flops:
            return flops / gpu_flops
        if cpu_seconds is not None:  # same share of the device as here
            return cpu_seconds * cpu_flops / gpu_flops
        return None

    for phase in plan:
        fig = kinds.get(phase.kind, {})
        step = fig.get('step_seconds')
        flops = fig.get('flops_per_step')
        if step is None and flops:
            step = flops / cpu_flops
        g_step = gpu_seconds(step, flops, gpu_steps.get(phase.kind))
        rows.append(dict(
            item=f'train {phase.name}', count=phase.iters, unit='iters',
            cpu_seconds=None if step is None else step * phase.iters,
            gpu_seconds=None if g_step is None else g_step * phase.iters))
    num_seg = sum(p.is_segmentation for p in plan)
    num_translation = sum(p.kind == 'translation' for p in plan)
    from mmbdl.engine.runner.phase_plan import mode_of
    mode = train_cfg.get('self_training') or 'offline'
    mode = mode.to_dict() if hasattr(mode, 'to_dict') else mode
    num_labelled = sum(PSEUDO_LABELS in p.spec.consumes
                       and mode_of(mode, p.kind) != 'ema_teacher'
                       for p in plan)
    counts = dict(
        translation=(num_translation * REAL_COUNTS[source], f'S\'(k) of '
                     f'{REAL_COUNTS[source]:,} {source} images x '
                     f'{num_translation} translation phases'),
        pseudo_label=(num_labelled * REAL_COUNTS['cityscapes_train'],
                      f'pseudo-labels of {REAL_COUNTS["cityscapes_train"]:,}'
                      f' Cityscapes train images x {num_labelled} '
                      'self-training phases'),
        val=(num_seg * REAL_COUNTS['cityscapes_val'],
             f'evaluation of {REAL_COUNTS["cityscapes_val"]} val images x '
             f'{num_seg} segmentation phases'))
    # nothing to cost: no F in the plan, or online labels (the EMA teacher
    # runs inside the training step, counted in its FLOPs)
    counts = {k: v for k, v in counts.items() if v[0]}
    for key, (count, item) in counts.items():
        job = jobs.get(key)
        if job is None:
            rows.append(dict(item=item, count=count, unit='images',
                             cpu_seconds=None, gpu_seconds=None))
            continue
        per = job['seconds_per_image']
        g = gpu_seconds(per, job.get('flops_per_image'))
        rows.append(dict(item=item, count=count, unit='images',
                         cpu_seconds=per * count,
                         gpu_seconds=None if g is None else g * count))
    build = jobs.get('dataset_build')
    if build:
        count = len(plan)
        real_files = (REAL_COUNTS[source] * 2 +
                      2 * REAL_COUNTS['cityscapes_train'])
        seconds = (count * build['overhead_seconds'] +
                   real_files * build['first_seconds_per_file'] +
                   real_files * (count - 1) *
                   build['cached_seconds_per_file'])
        rows.append(dict(
            item=f'data-set builds ({real_files:,} files checked at the '
            f'first phase start, fingerprinted at the other {count - 1})',
            count=count, unit='phases', cpu_seconds=seconds,
            gpu_seconds=seconds))
    total_cpu = sum(r['cpu_seconds'] or 0 for r in rows)
    total_gpu = sum(r['gpu_seconds'] or 0 for r in rows)
    missing = [r['item'] for r in rows if r['cpu_seconds'] is None]
    per_kind: Dict[str, dict] = {}
    for phase, row in zip(plan, rows):
        entry = per_kind.setdefault(phase.kind, dict(
            phases=0, iters=0, cpu_seconds=0.0, gpu_seconds=0.0))
        entry['phases'] += 1
        entry['iters'] += phase.iters
        for key in ('cpu_seconds', 'gpu_seconds'):
            if row[key] is None or entry[key] is None:
                entry[key] = None
            else:
                entry[key] += row[key]
    return dict(rows=rows, per_kind=per_kind, cpu_seconds=total_cpu,
                gpu_seconds=total_gpu,
                gpu_note=gpu_note, gpu_tflops=gpu_flops / 1e12,
                cpu_gflops=cpu_flops / 1e9, unmeasured=missing,
                phases=[dict(name=p.name, kind=p.kind, iters=p.iters)
                        for p in plan])


def human(seconds: Optional[float]) -> str:
    """``12.3 h`` / ``4.5 d`` / ``35 s`` style duration."""
    if seconds is None:
        return 'n/a'
    if seconds < 120:
        return f'{seconds:.0f} s'
    if seconds < 2 * 3600:
        return f'{seconds / 60:.1f} min'
    if seconds < 3 * 86400:
        return f'{seconds / 3600:.1f} h'
    return f'{seconds / 86400:.1f} d'
