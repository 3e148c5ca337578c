"""Build the inference segmentor of a config and load a checkpoint into it
(shared by ``BDLSegInferencer``, ``tools/pseudo_label.py`` and
``tools/analysis/plot_pixel_ratio.py``)."""
import copy
import os.path as osp
from typing import Dict, List, Optional, Tuple

import torch.nn as nn

from mmbdl.utils.errors import ConfigCheckError, MissingFileError

DEFAULT_DATALOADER_KEY = 'pseudo_label_dataloader'


def _to_dict(cfg) -> Dict:
    if hasattr(cfg, 'to_dict'):
        return cfg.to_dict()
    return copy.deepcopy(dict(cfg))


def segmentor_cfg_chain(model_cfg: Dict) -> List[Dict]:
    """Model configs from the outermost to the plain segmentor.

    Follows ``segmentor=`` entries (``BDL`` -> ``AdvSelfTrainingSegmentor``
    -> ``EncoderDecoder``).

    Args:
        model_cfg (dict): The config's ``model``.

    Returns:
        list[dict]: The chain; the last item is the plain segmentor.
    """
    chain = [model_cfg]
    while isinstance(chain[-1].get('segmentor'), dict):
        chain.append(chain[-1]['segmentor'])
    return chain


def inference_segmentor_cfg(model_cfg) -> Tuple[Dict, str]:
    """Config of the plain segmentor inside a (BDL) model config.

    When the plain segmentor has no ``data_preprocessor``, the nearest outer
    one is used (the ``target`` branch of a ``UDADataPreProcessor``).

    Args:
        model_cfg (dict): The config's ``model``.

    Returns:
        tuple[dict, str]: The segmentor config and the state-dict prefix of
        the segmentor inside the whole model (e.g. ``'segmentor.segmentor.'``).
    """
    chain = segmentor_cfg_chain(_to_dict(model_cfg))
    seg_cfg = copy.deepcopy(chain[-1])
    if not seg_cfg.get('data_preprocessor'):
        for outer in reversed(chain[:-1]):
            dp = outer.get('data_preprocessor')
            if dp:
                dp = dp.get('target', dp) if isinstance(dp.get('target'),
                                                        dict) else dp
                seg_cfg['data_preprocessor'] = copy.deepcopy(dp)
                break
    for key in ('pretrained', ):
        seg_cfg.pop(key, None)
    return seg_cfg, 'segmentor.' * (len(chain) - 1)


def load_inference_segmentor(cfg, checkpoint: str,
                             device: str = 'cpu',
                             allow_partial: bool = False,
                             loaded: Optional[dict] = None) -> nn.Module:
    """Build a config's inference segmentor and load its weights.

    Accepts checkpoints of the whole model (BDL, AdvSelfTrainingSegmentor)
    and of a plain mmseg segmentor.

    Args:
        cfg (Config): The config.
        checkpoint (str): Checkpoint path.
        device (str): Device. Defaults to 'cpu'.
        allow_partial (bool): Load a checkpoint that lacks some of the
            segmentor's weights, with a warning (the config's
            ``default_hooks.weights_check.allow_partial`` does the same).
            Defaults to False.
        loaded (dict, optional): ``checkpoint`` already loaded by the
            caller (it is not read again). Defaults to None.

    Returns:
        nn.Module: The segmentor, in eval mode.

    Raises:
        FileNotFoundError: If the checkpoint is missing.
        ValueError: If the checkpoint does not fit the segmentor (e.g.
            another number of classes), or lacks some of its weights
            (:func:`mmbdl.utils.weights.partial_load.require_complete_load`).
    """
    from mmengine.runner.checkpoint import _load_checkpoint

    from mmbdl.registry import MODELS

    if not osp.isfile(checkpoint):
        raise MissingFileError(f'checkpoint {checkpoint} does not exist')
    seg_cfg, prefix = inference_segmentor_cfg(cfg.model)
    segmentor = MODELS.build(seg_cfg)
    ckpt = loaded if loaded is not None else _load_checkpoint(
        checkpoint, map_location='cpu')
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else ckpt
    state = {(k[7:] if k.startswith('module.') else k): v
             for k, v in state.items()}
    own = segmentor.state_dict()
    # the whole checkpoint wins a tie (the keys the refusal shows)
    candidates = [state]
    if prefix:
        candidates.append({k[len(prefix):]: v for k, v in state.items()
                           if k.startswith(prefix)})
    sub = max(candidates, key=lambda d: sum(k in own for k in d))
    mismatched = [(k, tuple(sub[k].shape), tuple(own[k].shape))
                  for k in own if k in sub and sub[k].shape != own[k].shape]
    if mismatched:
        from mmbdl.engine.pseudo_labeling.target_inference import \
            segmentor_num_classes
        n = segmentor_num_classes(segmentor)
        for key, theirs, ours in mismatched:
            if key.startswith('decode_head.') and len(theirs) == len(ours) \
                    and ours[0] == n and theirs[0] != n \
                    and theirs[1:] == ours[1:]:
                raise ConfigCheckError(
                    f'{checkpoint} predicts {theirs[0]} classes ({key} has '
                    f'shape {theirs}) but the config\'s segmentor and target '
                    f'dataset have {n}; use a checkpoint made for the '
                    "dataset's classes")
        key, theirs, ours = mismatched[0]
        raise ConfigCheckError(
            f'{checkpoint} does not fit the config\'s segmentor: {key} has '
            f'shape {theirs} there but {ours} in the model (and '
            f'{len(mismatched) - 1} more); use the config of that run')
    from mmbdl.utils.weights import (allow_partial_in, match_keys,
                                     require_complete_load)
    require_complete_load(
        match_keys(sub, own, checkpoint), list(sub), checkpoint,
        allow_partial or allow_partial_in(cfg), converter_prefix=prefix)
    segmentor.load_state_dict({k: v for k, v in sub.items() if k in own},
                              strict=False)
    return segmentor.to(device).eval()


def hook_settings_from_config(cfg) -> Dict:
    """Settings of a ``PseudoLabelHook`` found in ``custom_hooks``.

    Args:
        cfg (Config): The config.

    Returns:
        dict: The hook's arguments (without ``type``), or an empty dict.
    """
    for hook in cfg.get('custom_hooks', None) or []:
        if str(hook.get('type', '')).split('.')[-1] == 'PseudoLabelHook':
            settings = _to_dict(hook)
            settings.pop('type')
            return settings
    return {}


def dataloader_cfg_from_config(cfg) -> Dict:
    """The target training dataloader config of a config.

    ``pseudo_label_dataloader``, else the ``dataloader`` of a
    ``PseudoLabelHook`` in ``custom_hooks``.

    Args:
        cfg (Config): The config.

    Returns:
        dict: Dataloader config with ``dataset``.

    Raises:
        ValueError: If the config has neither.
    """
    dl = cfg.get(DEFAULT_DATALOADER_KEY, None) or \
        hook_settings_from_config(cfg).get('dataloader')
    if not dl or 'dataset' not in dl:
        raise ConfigCheckError(
            f'{cfg.filename}: no target training data; add '
            f'`{DEFAULT_DATALOADER_KEY} = dict(batch_size=1, num_workers=2, '
            'dataset=dict(...))` with the target TRAIN images')
    return _to_dict(dl)


def build_target_dataset(dataloader_cfg: Dict):
    """Build the dataset of a dataloader config (``mmbdl`` scope)."""
    from mmbdl.registry import DATASETS
    return DATASETS.build(copy.deepcopy(dataloader_cfg['dataset']))
