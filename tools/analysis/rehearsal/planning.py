"""Before the run: device throughput, FLOP estimates, disk/memory needs."""
import copy
import glob
import os.path as osp
import shutil
import time
from typing import Dict, List, Optional

import torch

from .device import conv_throughput
from .flop_count import TotalFlopCounter
from .projection import kind_figures, per_image, project
from .synthetic_data import COMPLETE_FILE, estimate_bytes

# input sizes (w, h) of the paper configs' phases
SEG_SIZES = dict(gta5=(1280, 720), synthia=(1280, 760))
TARGET_SIZE = (1024, 512)
TRANSLATION_SIZE = dict(gta5=(1280, 720), synthia=(1280, 760))
PSEUDO_LABEL_SIZE = (1024, 512)
CROP = 452  # the translator's square crops


def measure_device(args) -> float:
    """FLOP/s of this machine (CUDA if available) for the projection."""
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    return conv_throughput(device)


def _build(cfg_model: dict):
    from mmbdl.registry import MODELS
    model = MODELS.build(copy.deepcopy(cfg_model))
    return model.eval()


def _forward_flops(fn) -> int:
    with TotalFlopCounter() as counter, torch.no_grad():
        fn()
    return counter.get_total_flops()


def _crop_of(pipeline, types) -> Optional[tuple]:
    """(w, h) of the first crop transform of ``types`` in a pipeline."""
    for t in pipeline or []:
        if t.get('type') in types and 'crop_size' in t:
            size = t['crop_size']
            h, w = (size, size) if isinstance(size, int) else size[:2]
            return int(w), int(h)
    return None


def config_input_sizes(cfg, source: str) -> dict:
    """Input sizes (w, h) of M's source / target batches and F's images.

    The crops of the config's pipelines where it has them (e.g. the
    DINOv2 configs' 504x504, whose ViT takes whole patches only), else the
    paper configs' whole images and the release's 452x452 F crops.
    """
    data = cfg.get('train_dataloader', {}).get('dataset', {})
    seg = ('RandomCrop', 'mmseg.RandomCrop')
    translation = cfg.train_cfg.get('phase_dataloaders', {}).get(
        'translation', {}).get('dataset', {})
    return dict(
        source=_crop_of(data.get('source', {}).get('pipeline'), seg)
        or SEG_SIZES[source],
        target=_crop_of(data.get('target', {}).get('pipeline'), seg)
        or TARGET_SIZE,
        translation=_crop_of(translation.get('pipeline'),
                             ('mmagic.Crop', 'Crop')) or (CROP, CROP))


def _batch_size(cfg) -> int:
    """Samples per segmentation step (``train_dataloader.batch_size``)."""
    return int((cfg.get('train_dataloader') or {}).get('batch_size', 1))


def online_step_flops(passes: dict, seg_src: int, seg_tgt: int,
                      disc_src: int, disc_tgt: int) -> int:
    """FLOPs per sample of a step counted from its terms' passes.

    Each student pass is 3 forward passes' FLOPs (forward + backward ~ 2
    forwards) of M on its image (the source crop, or the target's size for
    the target, mixed and masked images; token masking keeps every token,
    so it costs a whole pass); each teacher pass is one forward of M's
    architecture on the target; the adversarial term adds D as
    :func:`estimate_kind_flops` counts it for the paper kinds.

    Args:
        passes (dict): :func:`.step_terms.step_passes`.
        seg_src (int): Forward FLOPs of M on one source image.
        seg_tgt (int): Forward FLOPs of M on one target image.
        disc_src (int): Forward FLOPs of D on one source output.
        disc_tgt (int): Forward FLOPs of D on one target output.

    Returns:
        int: FLOPs per sample of the batch.
    """
    student = sum(3 * (seg_src if image == 'source' else seg_tgt)
                  for image in passes['student'])
    teacher = passes['teacher'] * seg_tgt
    disc = 3 * (2 * disc_src + disc_tgt) if passes['discriminator'] else 0
    return student + teacher + disc


def estimate_kind_flops(cfg, source: str,
                        kinds: Optional[List[str]] = None
                        ) -> Dict[str, dict]:
    """FLOPs per step of each phase kind from forward passes on meta tensors.

    A training step is costed as 3 forward passes (backward ~ 2 forwards)
    of everything it backpropagates through: the segmentor on the source
    (and target) image, the output-space discriminator; for the translation
    step 6 generator passes (translate, reconstruct, identity per direction),
    M on the 2 real and 4 generated images (+1 recomputation per generated
    image with activation checkpointing) and the PatchGAN discriminators.
    A kind labelled online by the EMA teacher (:func:`.step_terms.is_online`)
    is counted from its loss terms (:func:`online_step_flops`). The forward
    passes run on the crops of the config's pipelines (a backbone that
    resizes its input, e.g. DINOv2's ``input_resize``, counts the resized
    size). Segmentation steps are multiplied by the batch size.

    Args:
        cfg (Config): The BDL config.
        source (str): 'gta5' or 'synthia'.
        kinds (list[str], optional): Kinds to count; defaults to the
            config's plan (:func:`.step_terms.config_kinds`).

    Returns:
        dict: ``{kind: {'flops_per_step': int, 'step_seconds': None}}``
        (online kinds also ``passes``).
    """
    from .step_terms import config_kinds, runs_teacher, step_passes
    kinds = list(kinds if kinds is not None else config_kinds(cfg))
    model = _build(cfg.model.to_dict()).to('meta')
    seg = model.segmentor
    core = getattr(seg, 'segmentor', seg)
    disc = getattr(seg, 'discriminator', None)
    translator = model.translator

    def seg_fwd(size):
        x = torch.empty(1, 3, size[1], size[0], device='meta')
        return _forward_flops(lambda: core(x, None, mode='tensor'))

    def disc_fwd(size):
        if disc is None:
            return 0
        x = torch.empty(1, 19, size[1], size[0], device='meta')
        return _forward_flops(lambda: disc(x))

    sizes = config_input_sizes(cfg, source)
    src, tgt = sizes['source'], sizes['target']
    batch = _batch_size(cfg)
    flops, extra = {}, {}
    if 'translation' in kinds:
        if translator is None:
            raise ValueError('the plan has a translation phase but the '
                             'config has no model.translator')
        t_batch = cfg.train_cfg.get('phase_dataloaders', {}).get(
            'translation', {}).get('batch_size', 4)
        crop_w, crop_h = sizes['translation']
        x = torch.empty(t_batch, 3, crop_h, crop_w, device='meta')
        gen = translator.generators['target']
        gen_f = _forward_flops(lambda: gen(x))
        pd = translator.discriminators['target']
        pd_f = _forward_flops(lambda: pd(x))
        m_f = 0
        if translator.perceptual_model is not None:
            m_f = _forward_flops(
                lambda: translator.perceptual_model(x, None, mode='tensor'))
        flops['translation'] = 3 * 6 * gen_f + (2 + 4 * 4) * m_f + \
            3 * 6 * pd_f
    seg_src, seg_tgt = seg_fwd(src), seg_fwd(tgt)
    d_src, d_tgt = disc_fwd(src), disc_fwd(tgt)
    for kind in kinds:
        if kind == 'translation':
            continue
        if runs_teacher(cfg, kind):
            passes = step_passes(cfg, kind)
            per_sample = online_step_flops(passes, seg_src, seg_tgt, d_src,
                                           d_tgt)
            extra[kind] = dict(
                passes=passes, batch=batch,
                student_forward=dict(source=seg_src, target=seg_tgt),
                disc_forward=dict(source=d_src, target=d_tgt))
        elif kind == 'source_only':
            per_sample = 3 * seg_src
        else:  # adaptation / offline self-training: Eq. 1 (+ Eq. 3)
            per_sample = 3 * (seg_src + seg_tgt) + \
                3 * (2 * d_src + d_tgt)
        flops[kind] = per_sample * batch
    del model
    return {k: dict(flops_per_step=v, step_seconds=None, **extra.get(k, {}))
            for k, v in flops.items()}


def plan_only(cfg, args, source: str, full_train_cfg: dict,
              device_flops: float, previous: Optional[dict]) -> dict:
    """Schedule, FLOPs and projection without training.

    Uses the measured figures of an earlier rehearsal of the same config in
    the work dir when there is one, else FLOP estimates.
    """
    from .report import _load_gpu
    if previous and previous.get('phases'):
        kinds = kind_figures(previous['phases'])
        jobs = previous.get('jobs') or dict(
            translation=per_image(previous['phases'], 'translation'),
            pseudo_label=per_image(previous['phases'], 'pseudo_label'),
            val=per_image(previous['phases'], 'val'))
        flops_source = 'measured by the rehearsal in the work dir'
    else:
        kinds = estimate_kind_flops(cfg, source)
        jobs = {}
        flops_source = ('estimated: forward FLOPs on meta tensors x 3 '
                        'per trained pass, x batch; no rehearsal in the '
                        'work dir yet')
    projection = project(full_train_cfg, source, kinds, jobs, device_flops,
                         _load_gpu(args.gpu_json))
    return dict(config=osp.basename(args.config), source=source,
                kinds=kinds, projection=projection, flops_source=flops_source,
                amp=amp_note(cfg))


def amp_note(cfg) -> str:
    """A line on mixed precision when the config trains with
    ``AmpOptimWrapper`` (the assumed GPU throughput is fp32/TF32), else
    ''."""
    from .memory_probe import cpu_optim_config
    _, amp = cpu_optim_config(cfg.get('optim_wrapper') or {})
    if not amp:
        return ''
    return ('Mixed precision: the config trains with AmpOptimWrapper (fp16 '
            'autocast); the assumed GPU throughput above is an fp32/TF32 '
            'figure, so tensor-core fp16 steps may be faster. Only '
            'gpu_check.sh (--gpu-json) measures it.')


def _param_bytes(cfg) -> int:
    with torch.device('meta'):
        try:
            model = _build(cfg.model.to_dict())
        except Exception:  # noqa: BLE001 (some inits need real tensors)
            model = None
    if model is None:
        model = _build(cfg.model.to_dict())
    total = sum(p.numel() * p.element_size() for p in model.parameters())
    total += sum(b.numel() * b.element_size() for b in model.buffers())
    return total


def plan_kinds(cfg, args) -> List[str]:
    """Phase kinds the rehearsal runs: the config's ``train_cfg.plan`` when
    it has one, else the paper's kinds of its K / N rounds and source-only
    switch."""
    from .step_terms import config_kinds
    return config_kinds(cfg, args.ssl_rounds)


def probe_device() -> str:
    """The device the memory probes run on: CUDA where there is one."""
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def estimate_memory(cfg, args, source: str, device: str) -> dict:
    """The memory model of the config's phases at their real sizes.

    Every phase kind is probed at ``args.memory_scales`` (default 1/4 and
    1/2) of its real side lengths at batch 1 (:func:`.memory_probe.
    fit_kinds`; the model is linear in pixels x batch, so it predicts the
    config's batch); a kind whose step is an already probed kind's reuses
    that fit. The estimate of a phase's peak is this process's size (CPU;
    0 on CUDA, whose figure is allocated tensor memory) plus its kind's
    step at the real input. On CPU an ``AmpOptimWrapper`` is probed as an
    ``OptimWrapper`` (fp32; ``amp_replaced`` counts them).

    Returns:
        dict: ``device``, ``base_bytes``, ``kinds`` (fits and estimates),
        ``peak_bytes`` (the largest phase), ``scales``, ``amp_replaced``
        and ``with_cp`` (the switches of the model's ViT backbones).
    """
    from .memory import rss_bytes
    from .memory_probe import cpu_optim_config, fit_kinds, real_sizes
    inputs = config_input_sizes(cfg, source)  # the config's crops, if any
    sizes = real_sizes(cfg, inputs['source'], inputs['target'], CROP)
    sizes['crop'] = tuple(inputs['translation'])
    autocast = getattr(args, 'memory_autocast', None)
    if autocast and not device.startswith('cuda'):
        sizes['autocast'] = autocast
    scales = tuple(getattr(args, 'memory_scales', None) or (0.25, 0.5))
    kinds = fit_kinds(cfg, sizes, plan_kinds(cfg, args), scales=scales,
                      device=device, probe_batch=1, reuse_same_steps=True)
    base = 0 if device.startswith('cuda') else rss_bytes()
    peak = base + max(k['step_bytes'] for k in kinds.values())
    amp = 0
    if not device.startswith('cuda'):
        _, amp = cpu_optim_config(cfg.get('optim_wrapper') or {})
    return dict(device=device, base_bytes=base, sizes=sizes, kinds=kinds,
                peak_bytes=peak, scales=list(scales), amp_replaced=amp,
                autocast=sizes.get('autocast'),
                with_cp=backbone_switches(cfg))


def backbone_switches(cfg) -> Dict[str, object]:
    """``with_cp`` of M's backbone (config key and value), or {} when the
    backbone has no such switch."""
    seg = (cfg.get('model') or {}).get('segmentor') or {}
    key = 'model.segmentor'
    if 'segmentor' in seg:
        seg, key = seg['segmentor'], key + '.segmentor'
    backbone = seg.get('backbone') or {}
    if 'with_cp' not in backbone:
        return {}
    return dict(key=f'{key}.backbone.with_cp', value=bool(
        backbone['with_cp']))


def estimate_disk_needs(cfg, args, source: str, data_root: str) -> dict:
    """The disk the rehearsal needs, from the arguments and the config only.

    The synthetic sets (raw-size bound, unless already complete), S'(k) and
    pseudo-labels (raw-size bounds), and one checkpoint per phase plus the
    last interval checkpoint (weights + optimizer states, three times the
    weights as a bound; the weights counted on a model on the meta device).
    Cheap (no memory probe): the refusal on disk comes first.

    Returns:
        dict: ``disk_bytes`` and ``disk_detail``.
    """
    phases = 1 + args.rounds * (2 + args.ssl_rounds)
    data_bytes = 0 if osp.isfile(osp.join(data_root, COMPLETE_FILE)) else \
        estimate_bytes(source, args.images)
    sw, sh = TRANSLATION_SIZE[source]
    s_prime = args.rounds * args.images * sw * sh * 3
    pseudo = args.rounds * args.ssl_rounds * args.images * (
        PSEUDO_LABEL_SIZE[0] * PSEUDO_LABEL_SIZE[1] * 2)
    weights = _param_bytes(cfg)
    ckpt = 3 * weights * (phases + 1)
    disk = data_bytes + s_prime + pseudo + ckpt
    return dict(
        disk_bytes=disk,
        disk_detail=(f'data {data_bytes / 1e9:.1f} GB, S\' '
                     f'{s_prime / 1e9:.1f} GB, pseudo-labels '
                     f'{pseudo / 1e9:.2f} GB, {phases + 1} checkpoints '
                     f'{ckpt / 1e9:.1f} GB'))


def estimate_memory_needs(cfg, args, source: str) -> dict:
    """The memory the rehearsal needs: :func:`estimate_memory`, a model of
    measured costs (probe steps of every phase kind at two reduced sizes;
    minutes for the paper models, so it runs after the disk check).

    Returns:
        dict: ``memory_bytes``, ``memory_detail`` and ``memory_model``.
    """
    device = probe_device()
    model = estimate_memory(cfg, args, source, device)
    largest = max(model['kinds'], key=lambda k: model['kinds'][k][
        'step_bytes'])
    fit = model['kinds'][largest]
    memory_detail = (
        f'{device}: model of measured costs, probe steps at 1/4 and 1/2 of '
        f'the real sizes; largest phase {largest}: process '
        f'{model["base_bytes"] / 1e9:.2f} GB + fixed '
        f'{fit["fixed"] / 1e9:.2f} GB + {fit["per_pixel"]:,.0f} B x '
        f'{fit["pixels"]:,} pixels x batch')
    return dict(memory_bytes=model['peak_bytes'],
                memory_detail=memory_detail, memory_model=model)


def estimate_needs(cfg, args, source: str, work_dir: str,
                   data_root: str) -> dict:
    """Disk and memory the rehearsal needs, estimated before writing:
    :func:`estimate_disk_needs` and :func:`estimate_memory_needs` in one
    dict."""
    needs = estimate_disk_needs(cfg, args, source, data_root)
    needs.update(estimate_memory_needs(cfg, args, source))
    return needs


def _available_memory() -> Optional[int]:
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_disk(needs: dict, work_dir: str) -> Optional[str]:
    """A one-line refusal when the disk does not suffice, else None."""
    folder = work_dir
    while not osp.isdir(folder):
        folder = osp.dirname(folder) or '.'
    free = shutil.disk_usage(folder).free
    if needs['disk_bytes'] > free:
        return (f'the rehearsal needs about {needs["disk_bytes"] / 1e9:.1f} '
                f'GB of disk ({needs["disk_detail"]}) but {folder} has '
                f'{free / 1e9:.1f} GB free; use fewer --images or another '
                '--work-dir / --data-root')
    return None


def check_memory(needs: dict) -> Optional[str]:
    """A one-line refusal when memory does not suffice, else None."""
    device = (needs.get('memory_model') or {}).get('device', 'cpu')
    if device.startswith('cuda'):
        available = torch.cuda.mem_get_info()[0]
        where = 'GPU memory'
    else:
        available = _available_memory()
        if available is not None:
            # this process already holds part of what the run needs
            from .memory import rss_bytes
            available += rss_bytes()
        where = 'memory'
    if available is not None and needs['memory_bytes'] > available:
        return (f'the rehearsal needs about '
                f'{needs["memory_bytes"] / 1e9:.1f} GB of {where} '
                f'({needs["memory_detail"]}) but {available / 1e9:.1f} GB '
                'are available; free memory or run it on a larger machine')
    return None


def check_needs(needs: dict, work_dir: str) -> Optional[str]:
    """A one-line refusal when disk or memory do not suffice, else None
    (disk first)."""
    return check_disk(needs, work_dir) or check_memory(needs)


def measure_check_costs(data_root: str) -> Dict[str, float]:
    """Seconds per file of the data-set check, first read and cached.

    Times :func:`mmbdl.datasets.data_checks.read_sizes_cached` (the check a
    phase runs when it builds its data set) over every image and label of
    the synthetic sets: once with an empty cache (every header read; the
    files were just written, so the page cache is warm) and once more (the
    files only stat-ed, as on a later phase's rebuild).

    Args:
        data_root (str): The synthetic data sets.

    Returns:
        dict: ``uncached`` and ``cached`` seconds per file, ``files``.
    """
    from mmbdl.datasets.data_checks import clear_size_cache, read_sizes_cached
    paths = sorted(glob.glob(osp.join(data_root, '**', '*.png'),
                             recursive=True))
    if not paths:
        return {}
    clear_size_cache()
    start = time.perf_counter()
    read_sizes_cached(paths)
    first = time.perf_counter() - start
    start = time.perf_counter()
    read_sizes_cached(paths)
    again = time.perf_counter() - start
    clear_size_cache()
    return dict(uncached=first / len(paths), cached=again / len(paths),
                files=len(paths))
