"""Probe steps of each phase kind of a BDL config at reduced sizes, for the
memory model (:mod:`.memory_model`).

A probe step builds the config's whole model (random weights: memory does
not depend on their values), the phase kind's optimizer wrappers (the
config's ``optim_wrapper`` entry for the kind) and a random batch with the
phase's inputs at ``scale`` times their real side lengths, then runs one
``train_step`` of that kind: the segmentor on a UDA batch (source only:
the source branch; adaptation: both branches and D; self-training: both,
the target with pseudo-labels) or the translator on source / target crops.
"""
import copy
import math
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch

from .memory_model import fit_step_memory, predict

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


def uda_batch(src: Tuple[int, int], tgt: Tuple[int, int], batch: int,
              num_classes: int, target_labels: bool) -> dict:
    """A random UDA batch (``uint8`` images; source labels, target labels
    when ``target_labels``)."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    def branch(size, labelled):
        w, h = size
        imgs, samples = [], []
        for _ in range(batch):
            imgs.append(torch.randint(0, 256, (3, h, w), dtype=torch.uint8))
            sample = SegDataSample(metainfo=dict(img_shape=(h, w),
                                                 ori_shape=(h, w)))
            if labelled:
                sample.gt_sem_seg = PixelData(data=torch.randint(
                    0, num_classes, (1, h, w), dtype=torch.int64))
            samples.append(sample)
        return imgs, samples

    src_imgs, src_samples = branch(src, True)
    tgt_imgs, tgt_samples = branch(tgt, target_labels)
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
            ``crop`` (w, h), ``translation_batch``.
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
    optim_cfg = cfg['optim_wrapper']
    optim_cfg = optim_cfg.to_dict() if hasattr(optim_cfg, 'to_dict') else \
        copy.deepcopy(dict(optim_cfg))

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

        from mmbdl.engine.runner.phase_plan import lookup
        from mmbdl.registry import MODELS
        torch.manual_seed(0)
        model = MODELS.build(copy.deepcopy(model_cfg)).to(device).train()
        model.phase = kind
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
                             kind == 'self_training')
        MessageHub.get_current_instance().update_info('iter', 0)
        model.train_step(data, optim)

    return step, kind_pixels(kind, small)


def fit_kinds(cfg, sizes: dict, kinds: Sequence[str],
              scales: Sequence[float] = (0.25, 0.5),
              device: str = 'cpu') -> Dict[str, dict]:
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

    Returns:
        dict: Per kind: ``fixed``, ``per_pixel``, ``probes``, ``pixels`` (at
        the real sizes) and ``step_bytes`` (the estimate there).
    """
    out = {}
    for kind in kinds:
        fit = fit_step_memory(
            lambda s, k=kind: kind_step(cfg, k, sizes, s, device), scales,
            device)
        pixels = kind_pixels(kind, sizes)
        out[kind] = dict(fit, pixels=pixels,
                         step_bytes=int(predict(fit, pixels)))
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
