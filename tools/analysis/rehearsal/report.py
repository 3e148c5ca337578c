"""rehearsal.json / rehearsal.md: measurements, checks and the projection."""
import json
import os
import os.path as osp
import platform
import time
from typing import Dict, List, Optional

import torch

from mmbdl.utils.atomic_write import atomic_open
from .memory_model import relative_error
from .projection import human, kind_figures, per_image, project
from .synthetic_data import REAL_COUNTS, SIZES

GB = 1e9
MEMORY_TOLERANCE = 0.10  # memory after a phase within 10% (max 1 GB)
MEMORY_CAP = 1 * 1024**3


def load_previous(work_dir: str) -> Optional[dict]:
    """The ``rehearsal.json`` of an earlier run in ``work_dir``, if any."""
    path = osp.join(work_dir, 'rehearsal.json')
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def _gb(value) -> str:
    return 'n/a' if value is None else f'{value / GB:.2f}'


def _memory_check(record: dict) -> dict:
    before, after = record.get('rss_before'), record.get('rss_after')
    if before is None or after is None:
        return dict(ok=None)
    allowed = min(MEMORY_TOLERANCE * before, MEMORY_CAP)
    return dict(ok=after - before <= allowed, growth=after - before,
                allowed=allowed)


def _jobs(phases: List[dict],
          data: dict) -> Dict[str, Optional[dict]]:
    jobs = dict(translation=per_image(phases, 'translation'),
                pseudo_label=per_image(phases, 'pseudo_label'),
                val=per_image(phases, 'val'))
    builds = sorted(p['dataset_build_seconds'] for p in phases
                    if p.get('dataset_build_seconds'))
    checks = data.get('check_seconds_per_file') or {}
    if builds and checks:
        # a phase start = a fixed cost (pipelines, sampler, loader; the
        # median build here, whose few files cost next to nothing) plus the
        # header check of every file: read once, then only stat-ed while
        # the files are unchanged (the check cache)
        jobs['dataset_build'] = dict(
            overhead_seconds=builds[len(builds) // 2],
            first_seconds_per_file=checks['uncached'],
            cached_seconds_per_file=checks['cached'])
    return jobs


def _count_files(kind: str, images: int) -> int:
    """Files a phase's data set checks (images + labels)."""
    if kind == 'translation':
        return 2 * images
    return 2 * images + images  # source pairs + target images


def assemble(args, name: str, source: str, full_train_cfg: dict,
             data: dict, phases: List[dict], checkpoints: Dict[str, int],
             device_flops: float, needs: dict, wall: float,
             work_dir: str, stopped: str = '') -> dict:
    """Everything the report shows, as one JSON-serialisable dict."""
    for record in phases:
        record['dataset_files'] = _count_files(record['kind'], args.images)
        record['memory_check'] = _memory_check(record)
        record['memory_estimate'] = _memory_estimate(record, needs)
        flops, steps = record.get('flops_per_step'), record['step_seconds']
        if flops and steps:
            step = sorted(steps)[len(steps) // 2]
            record['device_share'] = flops / step / device_flops
    kinds = kind_figures(phases)
    jobs = _jobs(phases, data)
    gpu = _load_gpu(args.gpu_json)
    projection = project(full_train_cfg, source, kinds, jobs, device_flops,
                         gpu)
    return dict(
        config=name, source=source, images_per_split=args.images,
        iters_per_phase=args.iters, rounds=args.rounds,
        ssl_rounds=args.ssl_rounds, threads=torch.get_num_threads(),
        workers=args.workers, allow_random_init=args.allow_random_init,
        machine=dict(platform=platform.platform(),
                     cpus=os.cpu_count(),
                     cuda=torch.cuda.get_device_name(0)
                     if torch.cuda.is_available() else None,
                     conv_gflops=device_flops / 1e9),
        data=data, needs=needs, phases=phases, checkpoints=checkpoints,
        kinds=kinds, jobs=jobs, projection=projection,
        wall_seconds=wall, finished=time.strftime('%Y-%m-%d %H:%M:%S'),
        work_dir=work_dir, stopped=stopped)


def _memory_estimate(record: dict, needs: dict) -> Optional[dict]:
    """The memory model's estimate of a phase's peak against the measured
    one (CPU: the training process tree's peak RSS; CUDA: max allocated).
    """
    model = (needs or {}).get('memory_model') or {}
    fit = (model.get('kinds') or {}).get(record['kind'])
    if not fit:
        return None
    cuda = str(model.get('device', 'cpu')).startswith('cuda')
    measured = record.get('cuda_max_allocated' if cuda else 'train_peak_rss')
    estimate = model.get('base_bytes', 0) + fit['step_bytes']
    return dict(estimate=estimate, measured=measured,
                error=relative_error(estimate, measured) if measured
                else None)


def _memory_lines(phases: List[dict]) -> List[str]:
    rows = [p for p in phases if p.get('memory_estimate')]
    if not rows:
        return []
    lines = ['', '## Memory: estimate against measurement', '',
             'Estimate: the memory model fitted before the run from probe '
             'steps of each phase kind at 1/4 and 1/2 of the real sizes '
             '(this process + fixed + bytes per pixel x pixels x batch); '
             'measured: the phase\'s training peak (process tree on CPU, '
             'max allocated on CUDA).', '',
             '| phase | kind | estimate GB | measured GB | error |',
             '| --- | --- | --- | --- | --- |']
    for p in rows:
        m = p['memory_estimate']
        error = 'n/a' if m['error'] is None else f'{100 * m["error"]:+.0f}%'
        lines.append(f'| {p["name"]} | {p["kind"]} | '
                     f'{_gb(m["estimate"])} | {_gb(m["measured"])} | '
                     f'{error} |')
    return lines


def _load_gpu(path: Optional[str]) -> Optional[dict]:
    if not path:
        return None
    with open(path) as f:
        result = json.load(f)
    return result.get('projection_input', result)


def write(result: dict, work_dir: str) -> None:
    """Write ``rehearsal.json`` and ``rehearsal.md`` atomically."""
    for name, text in (('rehearsal.json',
                        json.dumps(result, indent=2, default=str)),
                       ('rehearsal.md', markdown(result))):
        with atomic_open(osp.join(work_dir, name), 'w') as f:
            f.write(text)


def _phase_table(phases: List[dict]) -> List[str]:
    lines = [
        '| phase | step s (median) | data wait s | GFLOP/step | share of '
        'device | data-set build s | peak GB train (tree) | peak GB '
        'before/after-phase hooks | RSS GB before -> after | memory back '
        '(<=10%, max 1 GB) | CUDA max alloc GB | checkpoint GB |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- '
        '| --- |'
    ]
    for p in phases:
        steps = p.get('step_seconds') or []
        step = f'{sorted(steps)[len(steps) // 2]:.2f}' if steps else (
            f'{p["flop_step_seconds"]:.2f}*' if p.get('flop_step_seconds')
            else 'n/a')
        waits = p.get('data_seconds') or []
        wait = f'{max(waits):.2f}' if waits else 'n/a'
        flops = p.get('flops_per_step')
        share = p.get('device_share')
        check = p.get('memory_check', {})
        ok = {True: 'yes', False: 'NO', None: 'n/a'}[check.get('ok')]
        lines.append(
            f'| {p["name"]} | {step} | {wait} | '
            f'{"n/a" if not flops else f"{flops / 1e9:,.0f}"} | '
            f'{"n/a" if share is None else f"{100 * share:.0f}%"} | '
            f'{p.get("dataset_build_seconds", 0):.2f} | '
            f'{_gb(p.get("train_peak_rss"))} | '
            f'{_gb(p.get("before_phase_peak_rss"))} / '
            f'{_gb(p.get("after_phase_peak_rss"))} | '
            f'{_gb(p.get("rss_before"))} -> {_gb(p.get("rss_after"))} | '
            f'{ok} | {_gb(p.get("cuda_max_allocated"))} | '
            f'{_gb(p.get("checkpoint_bytes"))} |')
    return lines


def _job_lines(result: dict) -> List[str]:
    lines = []
    for record in result['phases']:
        for key, what in (('translation', 'translation S\''),
                          ('pseudo_label', 'pseudo-labelling'),
                          ('val', 'evaluation')):
            job = record.get(key)
            if not job or not job.get('images'):
                continue
            ips = job['images'] / job['seconds'] if job['seconds'] else 0
            extra = ''
            if key == 'pseudo_label' and job.get('cache_bytes') is not None:
                extra = (f', cache {job["cache_bytes"] / 1e6:.1f} MB '
                         f'({job["cache_bytes"] / job["images"] / 1e6:.2f} '
                         'MB/image)')
            if key == 'translation' and job.get('bytes'):
                extra = f', {job["bytes"] / job["images"] / 1e6:.2f} MB/image'
            flops = job.get('flops')
            lines.append(
                f'- {record["name"]}: {what} {job["images"]} images in '
                f'{job["seconds"]:.1f} s = {ips:.3f} img/s, '
                f'{(flops or 0) / job["images"] / 1e9:,.0f} GFLOP/image, '
                f'peak {_gb(job.get("peak_rss"))} GB{extra}')
    return lines


def _projection_lines(proj: dict) -> List[str]:
    lines = [
        '| item | count | this machine | GPU |', '| --- | --- | --- | --- |'
    ]
    for row in proj['rows']:
        lines.append(f'| {row["item"]} | {row["count"]:,} {row["unit"]} | '
                     f'{human(row["cpu_seconds"])} | '
                     f'{human(row["gpu_seconds"])} |')
    lines.append(f'| **total** | | **{human(proj["cpu_seconds"])}** | '
                 f'**{human(proj["gpu_seconds"])}** |')
    lines.append('')
    lines.append(f'This machine: {proj["cpu_gflops"]:.0f} GFLOP/s measured '
                 '(3x3 dilated conv, forward + backward). GPU: '
                 f'{proj["gpu_tflops"]:g} TFLOP/s; {proj["gpu_note"]}.')
    if proj['unmeasured']:
        lines.append('Not measured (no figure in the total): ' +
                     '; '.join(proj['unmeasured']) + '.')
    return lines


def markdown(result: dict) -> str:
    """The rehearsal report in Markdown."""
    data = result['data']
    machine = result['machine']
    source_size = 'x'.join(map(str, SIZES[result['source']]))
    target_size = 'x'.join(map(str, SIZES['cityscapes']))
    init = 'random backbone init (allow_random_init)' if \
        result['allow_random_init'] else 'pretrained init'
    cuda = ', ' + machine['cuda'] if machine['cuda'] else ''
    lines = [
        f'# Rehearsal of {result["config"]}', '',
        f'Synthetic {result["source"]} ({source_size}) '
        f'and Cityscapes ({target_size}) in the '
        f'real layouts, {result["images_per_split"]} images per split '
        f'(written in {data.get("seconds", 0):.0f} s'
        f'{", reused" if data.get("reused") else ""}); K={result["rounds"]}, '
        f'N={result["ssl_rounds"]}, {result["iters_per_phase"]} iterations '
        f'per phase; {result["threads"]} torch threads; '
        f'{init}; '
        f'wall {human(result["wall_seconds"])}. Machine: '
        f'{machine["cpus"]} CPUs{cuda}, '
        f'{machine["conv_gflops"]:.0f} GFLOP/s measured.', '',
        '## Per phase', ''
    ]
    if result.get('stopped'):
        lines[2:2] = [f'**INCOMPLETE: the run stopped ({result["stopped"]}); '
                      'the figures below cover the phases measured until '
                      'then, the projection uses what was measured.**', '']
    lines += _phase_table(result['phases'])
    lines += [
        '', 'Step time: median of the timed steps (the first step of each '
        'phase counts FLOPs and is not timed; `*` = only that step ran). '
        'Peak memory: the process tree (training process + dataloader '
        'workers; PSS when workers run). "Memory back": RSS of the training '
        'process after the phase (its checkpoint and after-phase hooks '
        'done, after a garbage collection) within 10% (at most 1 GB) of '
        'before it.'
    ]
    lines += _memory_lines(result['phases'])
    lines += ['', '## Per-image jobs', '']
    lines += _job_lines(result) or ['- none ran']
    checks = result['data'].get('check_seconds_per_file')
    if checks:
        lines += [f'- data-set check (the header check a phase start runs '
                  f'over its files): {checks["uncached"] * 1e6:.0f} us/file '
                  f'on the first read, {checks["cached"] * 1e6:.1f} us/file '
                  f'for an unchanged set (fingerprint only), over '
                  f'{checks["files"]} files']
    lines += ['', '## Projection of the whole paper schedule', '',
              f'Real data-set sizes: {REAL_COUNTS["gta5"]:,} GTA5 or '
              f'{REAL_COUNTS["synthia"]:,} SYNTHIA, '
              f'{REAL_COUNTS["cityscapes_train"]:,} / '
              f'{REAL_COUNTS["cityscapes_val"]} Cityscapes train / val.', '']
    lines += _projection_lines(result['projection'])
    needs = result.get('needs') or {}
    if needs:
        lines += ['', '## Estimated before the run', '',
                  f'- disk: {needs["disk_bytes"] / GB:.1f} GB '
                  f'({needs["disk_detail"]})',
                  f'- memory: {needs["memory_bytes"] / GB:.1f} GB '
                  f'({needs["memory_detail"]})']
    return '\n'.join(lines) + '\n'


GPU_MEMORY_GB = 80  # an A100 / H100 80 GB


def _passes_line(kind: str, fig: dict) -> List[str]:
    passes = fig.get('passes')
    if not passes:
        return []
    fwd = fig['student_forward']
    student = ', '.join(passes['student'])
    teacher = passes['teacher']
    return [f'    {kind}: terms {", ".join(passes["terms"])}; per sample '
            f'3 x M fwd on each student image ({student}) + {teacher} '
            f'teacher fwd' + (' + D' if passes['discriminator'] else '') +
            f'; M fwd {fwd["source"] / 1e9:,.0f} / '
            f'{fwd["target"] / 1e9:,.0f} GFLOP (source / target crop, '
            f'the backbone\'s input resize included) x batch '
            f'{fig["batch"]}']


def plan_text(result: dict) -> str:
    """The ``--plan-only`` output."""
    lines = [f'Plan of {result["config"]} ({result["source"]}):', '']
    for phase in result['projection']['phases']:
        lines.append(f'  {phase["name"]:<28} {phase["iters"]:>8,} iters')
    lines += ['', 'FLOPs per step (' + result['flops_source'] + '):']
    for kind, fig in sorted(result['kinds'].items()):
        flops = fig.get('flops_per_step')
        step = fig.get('step_seconds')
        lines.append(
            f'  {kind:<14} {"n/a" if not flops else f"{flops / 1e9:,.0f}"} '
            f'GFLOP/step, {"n/a" if step is None else f"{step:.2f}"} s/step')
        lines += _passes_line(kind, fig)
    lines += ['', 'Projection:'] + _projection_lines(result['projection'])
    lines += _per_kind_lines(result['projection'])
    if result.get('amp'):
        lines += ['', result['amp']]
    lines += [''] + plan_memory_lines(result.get('memory'))
    return '\n'.join(lines)


def _per_kind_lines(proj: dict) -> List[str]:
    per_kind = proj.get('per_kind') or {}
    if not per_kind:
        return []
    assumed = proj['gpu_note'].startswith('ASSUMPTION')
    lines = ['', 'Training time per phase kind (GPU at '
             f'{proj["gpu_tflops"]:g} TFLOP/s, '
             + ('ASSUMED' if assumed else 'measured') + '):',
             '| kind | phases | iters | GPU-hours | this machine |',
             '| --- | --- | --- | --- | --- |']
    total = 0.0
    for kind, entry in per_kind.items():
        gpu = entry['gpu_seconds']
        total += gpu or 0
        lines.append(f'| {kind} | {entry["phases"]} | {entry["iters"]:,} | '
                     f'{"n/a" if gpu is None else f"{gpu / 3600:,.1f}"} | '
                     f'{human(entry["cpu_seconds"])} |')
    lines.append(f'| **training total** | | | **{total / 3600:,.1f}** | |')
    return lines


def plan_memory_lines(memory: Optional[dict]) -> List[str]:
    """The ``--plan-only --memory`` lines: each phase kind's estimated
    peak (this process + the kind's step at the real input), what the
    probe could not include (AMP) and, above :data:`GPU_MEMORY_GB`, the
    switch to try."""
    if not memory:
        return ['Memory: not estimated (add --memory: probe steps at 1/4 '
                'and 1/2 of the real sizes).']
    cuda = memory['device'].startswith('cuda')
    precision = 'fp32'
    scales = ' and '.join(
        f'{s:g}' for s in memory.get('scales', (0.25, 0.5)))
    lines = [
        f'Memory per phase kind ({memory["device"]}; model of measured '
        f'costs, probe steps at {scales} of the real side lengths, '
        'segmentation probes at batch 1: the model is linear in pixels x '
        'batch; peak = '
        + ('max allocated' if cuda else
           f'this process {memory["base_bytes"] / GB:.2f} GB') +
        ' + fixed + per-pixel x pixels x batch):',
        '| kind | peak GB | fixed GB | bytes per pixel | pixels x batch '
        '| probed |',
        '| --- | --- | --- | --- | --- | --- |']
    over = []
    for kind, fit in memory['kinds'].items():
        peak = memory['base_bytes'] + fit['step_bytes']
        if peak / GB > GPU_MEMORY_GB:
            over.append(kind)
        probed = f'= {fit["same_as"]} (same step)' if fit.get('same_as') \
            else f'batch {fit.get("probe_batch", "?")}'
        lines.append(f'| {kind} | {peak / GB:.2f} | {fit["fixed"] / GB:.2f} '
                     f'| {fit["per_pixel"]:,.0f} | {fit["pixels"]:,} | '
                     f'{probed} |')
    precision = 'fp32'
    if memory.get('autocast'):
        precision = f'CPU {memory["autocast"]} autocast'
        lines += ['', f'Segmentation probes under CPU torch.autocast('
                  f'{memory["autocast"]}) (--memory-autocast): a CUDA-free '
                  'stand-in for AMP; CPU and CUDA autocast cast different '
                  'op lists, so this approximates the GPU\'s AMP figure.']
    if memory.get('amp_replaced'):
        lines += ['', f'{precision} estimate: {memory["amp_replaced"]} '
                  'AmpOptimWrapper(s) of the config were probed as '
                  'OptimWrapper (AMP needs CUDA).']
        if not memory.get('autocast'):
            lines += ['On the GPU, fp16/bf16 autocast keeps most saved '
                      'activations in 16 bits, so the per-pixel part is '
                      'lower there (not measured here: add '
                      '--memory-autocast bfloat16; weights, gradients and '
                      'AdamW states stay fp32, so the fixed part is not).']
    if not cuda:
        lines += ['CPU figures: process RSS, including the allocator\'s '
                  'and the libraries\' working sets; a GPU holds tensors '
                  '(plus its own CUDA context).']
    switch = memory.get('with_cp') or {}
    if over:
        advice = (f'Above {GPU_MEMORY_GB} GB: {", ".join(over)}.')
        if switch and not switch['value']:
            advice += (' Gradient checkpointing of the backbone drops most '
                       'of its saved activations: rerun with '
                       f'--cfg-options {switch["key"]}=True to estimate it'
                       ' (and train with it).')
        elif switch:
            advice += (f' {switch["key"]} is already on; lower the batch '
                       '(train_dataloader.batch_size, with '
                       'accumulative_counts) or use more GPUs.')
        lines += [advice]
    elif memory['kinds']:
        lines += [f'Every phase kind is under {GPU_MEMORY_GB} GB '
                  f'({precision} estimate).']
    return lines
