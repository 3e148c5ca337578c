"""Build the translator of a config and load a checkpoint into it (shared
by ``tools/translate.py``, ``tools/analysis/demo_grid.py`` and
``tools/analysis/fcn_score.py``), and read how a run translates its source
images."""
import os.path as osp

import torch.nn as nn


def _drop_perceptual_checkpoint(node) -> None:
    """M is not needed to translate: do not load its checkpoint."""
    if isinstance(node, dict):
        if 'perceptual_checkpoint' in node:
            node['perceptual_checkpoint'] = None
        for value in node.values():
            _drop_perceptual_checkpoint(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _drop_perceptual_checkpoint(value)


def load_translator(cfg, checkpoint: str, device: str = 'cpu',
                    allow_partial: bool = False) -> nn.Module:
    """Build the config's model, load the checkpoint, return its translator.

    Args:
        cfg (Config): Translator or BDL config.
        checkpoint (str): Checkpoint path.
        device (str): Device to move the model to. Defaults to 'cpu'.
        allow_partial (bool): Load a checkpoint that lacks some of the
            generators' weights, with a warning (also the config's
            ``default_hooks.weights_check.allow_partial``). Defaults to
            False.

    Returns:
        nn.Module: The translator (``PerceptualCycleGAN``).
    """
    from mmengine.runner.checkpoint import _load_checkpoint

    from mmbdl.engine.hooks.weights_check_hook import module_prefix
    from mmbdl.registry import MODELS
    from mmbdl.utils import get_translator
    from mmbdl.utils.errors import ConfigCheckError, MissingFileError
    from mmbdl.utils.weights import (allow_partial_in, match_keys,
                                     require_complete_load)

    if not osp.isfile(checkpoint):
        raise MissingFileError(f'checkpoint {checkpoint} does not exist')
    model_cfg = cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') \
        else dict(cfg.model)
    _drop_perceptual_checkpoint(model_cfg)
    model = MODELS.build(model_cfg)
    translator = get_translator(model)
    if not hasattr(translator, 'generators'):
        raise ConfigCheckError(f'{cfg.filename}: the model has no translator '
                               '(no `generators`); use a translator or BDL '
                               'config')
    ckpt = _load_checkpoint(checkpoint, map_location='cpu')
    state = ckpt.get('state_dict', ckpt)
    state = {k[7:] if k.startswith('module.') else k: v
             for k, v in state.items()}
    own = model.state_dict()
    generators = module_prefix(model, translator) + 'generators.'
    match = match_keys(
        state, {k: v for k, v in own.items() if k.startswith(generators)},
        f'{checkpoint} (into the generators, {generators}*)')
    match.unexpected = [k for k in state if k not in own]
    require_complete_load(match, list(state), checkpoint,
                          allow_partial or allow_partial_in(cfg))
    model.load_state_dict(
        {k: v for k, v in state.items()
         if k in own and tuple(v.shape) == tuple(own[k].shape)},
        strict=False)
    translator.to(device)
    translator.eval()
    return translator


def source_translation_settings(cfg) -> dict:
    """How a run translates its source images into S'.

    Read from the config's ``SourceTranslationHook`` (``custom_hooks``),
    else from ``translate_cfg``: the settings the BDL loop (or
    ``tools/translate.py``) translates the source set with.

    Args:
        cfg (Config): A BDL or translator config.

    Returns:
        dict: ``img_dir``, ``img_suffix`` (default '.png'), ``scale``
        (``(w, h)`` the images are resized to before translation, or None),
        ``interpolation`` (default 'bicubic') and ``target_domain``
        (default 'target').

    Raises:
        ConfigCheckError: If the config names no source image folder.
    """
    from mmbdl.utils.errors import ConfigCheckError
    for hook in cfg.get('custom_hooks', None) or []:
        if str(hook.get('type', '')).split('.')[-1] == \
                'SourceTranslationHook':
            found = dict(hook)
            break
    else:
        found = dict(cfg.get('translate_cfg', None) or {})
    if not found.get('img_dir'):
        raise ConfigCheckError(
            f'{cfg.filename} has no SourceTranslationHook (custom_hooks) and '
            'no translate_cfg.img_dir: the source images are unknown; add '
            "translate_cfg = dict(img_dir='<source images>')")
    scale = found.get('scale')
    return dict(img_dir=found['img_dir'],
                img_suffix=found.get('img_suffix', '.png'),
                scale=tuple(scale) if scale is not None else None,
                interpolation=found.get('interpolation', 'bicubic'),
                target_domain=found.get('target_domain', 'target'))
