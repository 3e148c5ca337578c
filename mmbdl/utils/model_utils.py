"""Helpers that find sub-models inside (possibly wrapped) mmbdl models."""
from typing import Optional

import torch.nn as nn
from mmengine.model import BaseTTAModel, is_model_wrapper


def unwrap_model(model: nn.Module) -> nn.Module:
    """Return the module inside DDP / MMEngine model wrappers and TTA
    models (``tools/test.py --tta`` wraps the config's model in one)."""
    while is_model_wrapper(model) or isinstance(
            model, (nn.parallel.DistributedDataParallel, BaseTTAModel)):
        model = model.module
    return model


def get_inference_segmentor(model: nn.Module) -> nn.Module:
    """Find the plain MMSegmentation segmentor used for inference.

    Follows ``.segmentor`` attributes (``BDL`` -> ``AdvSelfTrainingSegmentor``
    -> ``EncoderDecoder``) until a :class:`mmseg.models.BaseSegmentor` is
    reached.

    Args:
        model (nn.Module): A model, possibly wrapped.

    Returns:
        nn.Module: The innermost segmentor.

    Raises:
        TypeError: If no MMSegmentation segmentor can be found.
    """
    from mmseg.models.segmentors import BaseSegmentor
    current: Optional[nn.Module] = unwrap_model(model)
    while current is not None:
        if isinstance(current, BaseSegmentor):
            return current
        current = getattr(current, 'segmentor', None)
        if current is not None:
            current = unwrap_model(current)
    raise TypeError(
        f'{type(unwrap_model(model)).__name__} holds no MMSegmentation '
        'segmentor (looked through `.segmentor` attributes)')


def get_translator(model: nn.Module) -> nn.Module:
    """Return ``model.translator`` when present, else the model itself."""
    model = unwrap_model(model)
    translator = getattr(model, 'translator', None)
    return unwrap_model(translator) if translator is not None else model
