"""Refuse a randomly initialised backbone and loads that match nothing."""
from typing import Optional, Tuple

import torch.nn as nn
from mmengine.hooks import Hook

from mmbdl.models.utils.checked_pretrained_init import PRETRAINED_ATTR
from mmbdl.registry import HOOKS
from mmbdl.utils.checkpoint import KeyMatch, check_key_match
from mmbdl.utils.errors import ConfigCheckError
from mmbdl.utils.model_utils import get_inference_segmentor, unwrap_model
from mmbdl.utils.runner_internals import load_from, resume_requested


def module_prefix(model: nn.Module, module: nn.Module) -> str:
    """Key prefix of ``module`` inside ``model`` ('' for the model itself).
    """
    for name, sub in unwrap_model(model).named_modules():
        if sub is module:
            return f'{name}.' if name else ''
    raise ValueError(f'{type(module).__name__} is not part of the model')


def backbone_init_source(model: nn.Module) -> Optional[str]:
    """The checkpoint M's backbone was initialised from, if any.

    Reads the mark of mmbdl's checked ``Pretrained`` init (or, for a module
    initialised outside mmbdl's scope, a finished ``Pretrained`` init_cfg).

    Args:
        model (nn.Module): Any model holding a segmentor.

    Returns:
        str | None: The checkpoint, or None for a random backbone.
    """
    backbone = getattr(get_inference_segmentor(model), 'backbone', None)
    if backbone is None:
        return None
    source = getattr(backbone, PRETRAINED_ATTR, None)
    if source is not None:
        return source
    cfgs = getattr(backbone, 'init_cfg', None) or []
    for cfg in cfgs if isinstance(cfgs, list) else [cfgs]:
        if cfg.get('type') == 'Pretrained' and getattr(
                backbone, 'is_init', False):
            return cfg.get('checkpoint')
    return None


def check_segmentor_checkpoint(model: nn.Module, state_dict: dict,
                               what: str,
                               min_ratio: float = 0.5) -> Tuple[KeyMatch,
                                                                bool]:
    """Count how a checkpoint fits M and stop when it hardly does.

    The keys are compared with the whole model; the share that must match
    is taken over M's inference segmentor (``segmentor.segmentor.*`` in a
    BDL model), the part every segmentation checkpoint is meant for.

    Args:
        model (nn.Module): The model the checkpoint is loaded into.
        state_dict (dict): The checkpoint's state dict.
        what (str): Name of the load for messages.
        min_ratio (float): Defaults to 0.5.

    Returns:
        tuple[KeyMatch, bool]: The comparison (over M's keys; ``unexpected``
        over the whole model) and whether M's backbone was loaded.

    Raises:
        ValueError: With keys and the likely prefix fix, if fewer than
            ``min_ratio`` of M's keys match.
    """
    model = unwrap_model(model)
    prefix = module_prefix(model, get_inference_segmentor(model))
    own = model.state_dict()
    theirs = {k[len('module.'):] if k.startswith('module.') else k: v
              for k, v in state_dict.items()}
    matched, missing, shapes = [], [], []
    for key, value in own.items():
        if not key.startswith(prefix):
            continue
        if key not in theirs:
            missing.append(key)
        elif tuple(theirs[key].shape) != tuple(value.shape):
            shapes.append(key)
        else:
            matched.append(key)
    unexpected = [k for k in theirs if k not in own]
    others = sum(1 for k in theirs if k in own and not k.startswith(prefix))
    match = KeyMatch(f'{what} (into M = {prefix or "the model"}; '
                     f'{others} more keys for other parts)', matched,
                     missing, unexpected, shapes)
    check_key_match(match, min_ratio)
    backbone = [k for k in own if k.startswith(prefix + 'backbone.')]
    hit = sum(k in set(matched) for k in backbone)
    return match, bool(backbone) and hit >= 0.5 * len(backbone)


def random_backbone_message(model: nn.Module, allow_key: str) -> str:
    """The refusal for a backbone that would stay randomly initialised."""
    model = unwrap_model(model)
    segmentor = get_inference_segmentor(model)
    backbone = getattr(segmentor, 'backbone', None)
    path = f'model.{module_prefix(model, backbone)}init_cfg' \
        if backbone is not None else 'model...backbone.init_cfg'
    return (
        f'M\'s backbone ({type(backbone).__name__}) would train from random '
        f'weights: no Pretrained init loaded it and neither load_from nor '
        f'train_cfg.initial_weights holds it. Set {path}=dict('
        "type='Pretrained', checkpoint='bdl://deeplabv2-resnet101-imagenet'"
        ", prefix='backbone.') (or another checkpoint; docs/"
        'pretrained_weights.md), or set '
        f'{allow_key}=True to train from scratch on purpose')


@HOOKS.register_module()
class WeightsCheckHook(Hook):
    """Stop a segmentation run whose weights were not really loaded.

    - ``load_from``: the matched / missing / unexpected key counts are
      logged, and the run stops (first keys on each side, likely prefix fix)
      when fewer than ``min_ratio`` of M's keys match.
    - Before training: a backbone that neither a ``Pretrained`` init nor
      ``load_from`` set is refused, naming the key to set, unless
      ``allow_random_init`` (then a warning is logged). A resumed run is
      not checked: it restores trained weights.

    The BDL loop does the same checks per phase itself; this hook is for
    ordinary segmentation runs (the schedule bases add it to
    ``default_hooks`` as ``weights_check``).

    Args:
        allow_random_init (bool): Train a random backbone on purpose.
            Defaults to False.
        min_ratio (float): Smallest share of M's keys a ``load_from``
            checkpoint must match. Defaults to 0.5.
    """

    priority = 'VERY_HIGH'

    def __init__(self, allow_random_init: bool = False,
                 min_ratio: float = 0.5) -> None:
        self.allow_random_init = allow_random_init
        self.min_ratio = min_ratio
        self._loaded_backbone: Optional[str] = None

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Check a ``load_from`` checkpoint before MMEngine loads it."""
        if resume_requested(runner):
            return
        state = checkpoint.get('state_dict', checkpoint)
        _, backbone = check_segmentor_checkpoint(
            runner.model, state, f'load_from {load_from(runner)}',
            self.min_ratio)
        if backbone:
            self._loaded_backbone = load_from(runner)

    def before_train(self, runner) -> None:
        """Refuse (or warn about) a random backbone."""
        if resume_requested(runner):
            return
        source = backbone_init_source(runner.model) or self._loaded_backbone
        if source is not None:
            runner.logger.info(f'M\'s backbone initialised from {source}')
            return
        message = random_backbone_message(
            runner.model, 'default_hooks.weights_check.allow_random_init')
        if not self.allow_random_init:
            raise ConfigCheckError(message)
        runner.logger.warning('allow_random_init=True: ' + message)
