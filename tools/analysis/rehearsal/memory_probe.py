"""Probe steps of each phase kind of a BDL config at reduced sizes, for the
memory model (:mod:`.memory_model`).

A probe step builds the config's whole model (random weights: memory does
not depend on their values), the phase kind's optimizer wrappers (the
config's ``optim_wrapper`` entry for the kind) and a random batch with the
phase's inputs at ``scale`` times their real side lengths, then runs one
``train_step`` of that kind: the segmentor on a UDA batch (source only:
the source branch; adaptation: both branches and D; self-training: both,
the target with pseudo-labels; a kind labelled online by the EMA teacher,
e.g. 'uda': the target without labels, with an ``ignore_mask`` per sample
when ``ema_cfg.ignore_mask``) or the translator on source / target crops.

On CPU an ``AmpOptimWrapper`` (CUDA only) is replaced by an
``OptimWrapper``: the probe is an fp32 figure (see
:func:`cpu_optim_config`). A backbone that resizes its input
(``input_resize``, DINOv2) is given the resize of the scaled crop
(:func:`scaled_input_resize`), so its token count follows the probe's
scale.
"""
import copy
import math
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch

from mmbdl.engine.runner.phase_kinds import PSEUDO_LABELS, phase_kind
from .memory_model import fit_step_memory, predict
from .step_terms import is_online, runs_teacher

SEGMENTATION_KINDS = ('source_only', 'adaptation', 'self_training')


def _rounded(size: Tuple[int, int], scale: float,
             multiple: int = 8) -> Tuple[int, int]:
    return tuple(max(multiple, int(round(v * scale / multiple)) * multiple)
                 for v in size)


def size_multiple(model_cfg) -> int:
    """The side multiple of probe inputs: 8 (F's and DeepLab's strides),
    and whole patches of every DINOv2 backbone in the model (its patch
    embedding refuses other sizes)."""
    from mmbdl.utils.patch_size_check import vit_patch_sizes
    multiple = 8
    for patch in vit_patch_sizes(model_cfg):
        multiple = multiple * patch // math.gcd(multiple, patch)
    return multiple


def cpu_optim_config(node):
    """An optimizer wrapper config with every ``AmpOptimWrapper`` replaced by
    an ``OptimWrapper`` (AMP needs CUDA; the CPU probe is fp32).

    Args:
        node (dict | list): An ``optim_wrapper`` config (not changed).

    Returns:
        tuple: The new config and the number of wrappers replaced.
    """
    if isinstance(node, dict):
        out, count = {}, 0
        amp = node.get('type') in ('AmpOptimWrapper', 'mmengine.'
                                   'AmpOptimWrapper')
        for key, value in node.items():
            if amp and key in ('dtype', 'loss_scale', 'use_fsdp'):
                continue
            out[key], n = cpu_optim_config(value)
            count += n
        if amp:
            out['type'] = 'OptimWrapper'
            count += 1
        return out, count
    if isinstance(node, (list, tuple)):
        pairs = [cpu_optim_config(v) for v in node]
        return type(node)(p[0] for p in pairs), sum(p[1] for p in pairs)
    return node, 0


def scaled_input_resize(real: int, real_side: int, side: int,
                        patch: int) -> int:
    """The ``input_resize`` of a backbone for a probe crop of ``side``.

    The VFM-UDA rule (``int(1.1 * crop) // patch * patch``) when the
    config's value follows it at the real crop, else the config's ratio to
    the crop; whole patches, at least one.

    Args:
        real (int): The config's ``input_resize``.
        real_side (int): The config's crop side.
        side (int): The probe's crop side.
        patch (int): The backbone's patch size.

    Returns:
        int: The probe's ``input_resize``.
    """
    if real == int(real_side * 1.1) // patch * patch:
        value = int(side * 1.1) // patch * patch
    else:
        value = int(side * real / real_side) // patch * patch
    return max(patch, value)


def _scale_resizes(model_cfg: dict, real: dict, small: dict) -> None:
    """Set the ``input_resize`` of M's backbone (source crop) and of F's
    perceptual model (translation crop) for the probe's sizes."""
    seg = (model_cfg.get('segmentor') or {})
    seg = seg.get('segmentor', seg)
    translator = model_cfg.get('translator') or {}
    perceptual = translator.get('perceptual_model') or {}
    for module, key in ((seg, 'source'), (perceptual, 'crop')):
        backbone = module.get('backbone') or {}
        if backbone.get('input_resize'):
            backbone['input_resize'] = scaled_input_resize(
                int(backbone['input_resize']), int(real[key][0]),
                int(small[key][0]), int(backbone.get('patch_size', 14)))


def uda_batch(src: Tuple[int, int], tgt: Tuple[int, int], batch: int,
              num_classes: int, target_labels: bool,
              ignore_mask: bool = False) -> dict:
    """A random UDA batch (``uint8`` images; source labels, target labels
    when ``target_labels``, an all-zero ``uint8`` ``ignore_mask`` (1, H, W)
    per target sample when ``ignore_mask``)."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    def branch(size, labelled, masked=False):
        w, h = size
        imgs, samples = [], []
        for _ in range(batch):
            imgs.append(torch.randint(0, 256, (3, h, w), dtype=torch.uint8))
            sample = SegDataSample(metainfo=dict(img_shape=(h, w),
                                                 ori_shape=(h, w)))
            if masked:
                sample.ignore_mask = PixelData(
                    data=torch.zeros((1, h, w), dtype=torch.uint8))
            if labelled:
                sample.gt_sem_seg = PixelData(data=torch.randint(
                    0, num_classes, (1, h, w), dtype=torch.int64))
            samples.append(sample)
        return imgs, samples

    src_imgs, src_samples = branch(src, True)
    tgt_imgs, tgt_samples = branch(tgt, target_labels, ignore_mask)
    return dict(inputs=dict(source=src_imgs, target=tgt_imgs),
                data_samples=dict(source=src_samples, target=tgt_samples))


def translation_batch(crop: Tuple[int, int], batch: int) -> dict:
    """A random batch of source / target crops as mmagic packs them."""
    from mmagic.structures import DataSample
    out = dict(inputs=[], data_samples=[])
    w, h = crop
    for _ in range(batch):
        imgs = {f'img_{d}': torch.randint(0, 256, (3, h, w),
                                          dtype=torch.uint8)
                for d in ('source', 'target')}
        sample = DataSample()
        sample.set_metainfo(dict(img_source_channel_order='bgr',
                                 img_target_channel_order='bgr'))
        sample.set_tensor_data(imgs)
        out['inputs'].append(imgs)
        out['data_samples'].append(sample)
    return out


def kind_pixels(kind: str, sizes: dict) -> int:
    """Pixels x batch of one step of ``kind`` (the model's regressor)."""
    if kind == 'translation':
        w, h = sizes['crop']
        return 2 * w * h * sizes['translation_batch']
    (sw, sh), (tw, th) = sizes['source'], sizes['target']
    pixels = sw * sh if kind == 'source_only' else sw * sh + tw * th
    return pixels * sizes['batch']


def kind_step(cfg, kind: str, sizes: dict, scale: float,
              device: str = 'cpu') -> Tuple[Callable[[], None], int]:
    """One training step of ``kind`` at ``scale`` of the real sizes.

    Args:
        cfg (Config): A BDL config (``model``, ``optim_wrapper`` keyed by
            phase kind).
        kind (str): The phase kind.
        sizes (dict): Real sizes: ``source`` / ``target`` (w, h), ``batch``,
            ``crop`` (w, h), ``translation_batch``; optionally
            ``autocast`` ('bfloat16': the segmentation step runs under CPU
            autocast).
        scale (float): Factor on every side length.
        device (str): Defaults to 'cpu'.

    Returns:
        tuple: The step (builds everything, runs one ``train_step``) and
        its pixels x batch.
    """
    model_cfg = cfg['model']
    model_cfg = model_cfg.to_dict() if hasattr(model_cfg, 'to_dict') else \
        copy.deepcopy(dict(model_cfg))
    multiple = size_multiple(model_cfg)
    small = dict(sizes, source=_rounded(sizes['source'], scale, multiple),
                 target=_rounded(sizes['target'], scale, multiple),
                 crop=_rounded(sizes['crop'], scale, multiple))
    _scale_resizes(model_cfg, sizes, small)
    optim_cfg = cfg['optim_wrapper']
    optim_cfg = optim_cfg.to_dict() if hasattr(optim_cfg, 'to_dict') else \
        copy.deepcopy(dict(optim_cfg))
    if not str(device).startswith('cuda'):
        optim_cfg, _ = cpu_optim_config(optim_cfg)
    autocast = sizes.get('autocast') if kind != 'translation' else None
    online = is_online(cfg, kind)
    teacher = kind != 'translation' and runs_teacher(cfg, kind)
    labelled = (kind != 'translation' and not online
                and PSEUDO_LABELS in phase_kind(kind).consumes)
    seg_cfg = model_cfg.get('segmentor') or {}
    ignore_mask = teacher and bool(
        (seg_cfg.get('ema_cfg') or {}).get('ignore_mask', False))

    def step() -> None:
        from mmengine.logging import MMLogger
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel('ERROR')  # the optimizers' per-parameter lines
        try:
            _run_step()
        finally:
            logger.setLevel(level)

    def _run_step() -> None:
        from mmengine import MessageHub
        from mmengine.optim import build_optim_wrapper

        from mmbdl.engine.runner.phase_kinds import set_model_phase
        from mmbdl.engine.runner.phase_plan import lookup
        from mmbdl.registry import MODELS
        torch.manual_seed(0)
        model = MODELS.build(copy.deepcopy(model_cfg)).to(device).train()
        set_model_phase(model, kind)
        if online:  # as the loop does for the phase (set_online_labels)
            model.segmentor.online_self_training = True
        module = model.translator if kind == 'translation' else \
            model.segmentor
        optim = build_optim_wrapper(module, copy.deepcopy(
            lookup(optim_cfg, kind)))
        if kind == 'translation':
            # as the loop does before a translation phase (M's weights)
            translator = model.translator
            if getattr(translator, 'perceptual_model', None) is not None:
                translator.load_perceptual_weights(
                    translator.perceptual_model.state_dict())
            data = translation_batch(small['crop'],
                                     small['translation_batch'])
        else:
            data = uda_batch(small['source'], small['target'],
                             small['batch'], int(module.num_classes),
                             labelled, ignore_mask)
        MessageHub.get_current_instance().update_info('iter', 0)
        if autocast:  # CPU autocast: a CUDA-free stand-in for AMP
            with torch.autocast('cpu', dtype=getattr(torch, autocast)):
                model.train_step(data, optim)
        else:
            model.train_step(data, optim)

    return step, kind_pixels(kind, small)


def same_step_as(cfg, kind: str, probed: Sequence[str]) -> Optional[str]:
    """A probed kind whose training step is the same as ``kind``'s, else
    None: both segmentation kinds with the same loss terms, the same
    labelling (online or not) and the same optimizer wrapper entry (e.g.
    the VFM-UDA variants' 'self_training' on S' and their 'uda' phase)."""
    from mmbdl.engine.runner.phase_plan import lookup
    from .step_terms import kind_terms
    if kind == 'translation':
        return None
    optim = cfg.get('optim_wrapper') or {}
    for other in probed:
        if other == 'translation' or other == kind:
            continue
        if (kind_terms(cfg, kind) == kind_terms(cfg, other)
                and is_online(cfg, kind) == is_online(cfg, other)
                and kind_pixels(kind, SIZES_PROBE) == kind_pixels(
                    other, SIZES_PROBE)
                and lookup(optim, kind) == lookup(optim, other)):
            return other
    return None


# any sizes: only whether two kinds take the same inputs matters
SIZES_PROBE = dict(source=(3, 5), target=(7, 11), batch=1, crop=(1, 1),
                   translation_batch=1)


def fit_kinds(cfg, sizes: dict, kinds: Sequence[str],
              scales: Sequence[float] = (0.25, 0.5),
              device: str = 'cpu',
              probe_batch: Optional[int] = None,
              reuse_same_steps: bool = False) -> Dict[str, dict]:
    """The memory model of every kind, fitted from probe steps.

    Args:
        cfg (Config): A BDL config.
        sizes (dict): Real sizes (see :func:`kind_step`).
        kinds (Sequence[str]): Phase kinds to probe.
        scales (Sequence[float]): Probe scales of the side lengths.
            Defaults to (1/4, 1/2): at 1/8 the fixed overheads of a
            DeepLab-v2 R101 step distort the slope (its adaptation step,
            measured: -26% at 3/4 of the real size when fitted at 1/8 and
            1/4, +0.5% when fitted at 1/4 and 1/2).
        device (str): Defaults to 'cpu'.
        probe_batch (int, optional): Segmentation batch of the probes
            (the model is linear in pixels x batch, so the fit at batch 1
            predicts the real batch); None: the real batch.
        reuse_same_steps (bool): Give a kind whose step is that of an
            already probed kind (:func:`same_step_as`) that kind's fit
            (``same_as``) instead of probing it again.

    Returns:
        dict: Per kind: ``fixed``, ``per_pixel``, ``probes``, ``pixels`` (at
        the real sizes), ``step_bytes`` (the estimate there) and
        ``probe_batch``.
    """
    probe_sizes = dict(sizes)
    if probe_batch is not None:
        probe_sizes['batch'] = probe_batch
    out = {}
    for kind in kinds:
        same = same_step_as(cfg, kind, list(out)) if reuse_same_steps \
            else None
        if same is not None:
            fit = {k: out[same][k] for k in ('fixed', 'per_pixel', 'probes')}
            fit['same_as'] = same
        else:
            fit = fit_step_memory(
                lambda s, k=kind: kind_step(cfg, k, probe_sizes, s, device),
                scales, device)
        pixels = kind_pixels(kind, sizes)
        out[kind] = dict(fit, pixels=pixels,
                         step_bytes=int(predict(fit, pixels)),
                         probe_batch=probe_sizes['batch']
                         if kind != 'translation' else
                         probe_sizes['translation_batch'])
    return out


def real_sizes(cfg, seg_size: Tuple[int, int], target_size: Tuple[int, int],
               crop: int) -> dict:
    """The real per-step inputs of a config's phases.

    Args:
        cfg (Config): The BDL config.
        seg_size (tuple): Source image size (w, h) of segmentation steps.
        target_size (tuple): Target image size (w, h).
        crop (int): Side of the translator's square crops.

    Returns:
        dict: See :func:`kind_step`.
    """
    train_cfg = cfg.get('train_cfg') or {}
    loaders = train_cfg.get('phase_dataloaders') or {}
    translation: Optional[dict] = loaders.get('translation') or {}
    return dict(
        source=tuple(seg_size), target=tuple(target_size),
        batch=int((cfg.get('train_dataloader') or {}).get('batch_size', 1)),
        crop=(crop, crop),
        translation_batch=int(translation.get('batch_size', 4)))
