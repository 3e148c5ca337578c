"""Refuse a randomly initialised backbone, loads that match nothing and
evaluations of a checkpoint that lacks part of M."""
from typing import List, Optional, Tuple

import torch.nn as nn
from mmengine.hooks import Hook

from mmbdl.models.utils.checked_pretrained_init import PRETRAINED_ATTR
from mmbdl.registry import HOOKS
from mmbdl.utils.errors import ConfigCheckError
from mmbdl.utils.model_utils import get_inference_segmentor, unwrap_model
from mmbdl.utils.runner_internals import load_from, resume_requested
from mmbdl.utils.weights import (KeyMatch, check_key_match,
                                 require_complete_load)


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


def segmentor_key_match(model: nn.Module, state_dict: dict,
                        what: str) -> Tuple[KeyMatch, str]:
    """How a checkpoint's keys fit M, the model's inference segmentor.

    The keys are compared with the whole model; the comparison is taken
    over M (``segmentor.segmentor.*`` in a BDL model), the part every
    segmentation checkpoint is meant for.

    Args:
        model (nn.Module): The model the checkpoint is loaded into.
        state_dict (dict): The checkpoint's state dict.
        what (str): Name of the load for messages.

    Returns:
        tuple[KeyMatch, str]: The comparison (over M's keys;
        ``unexpected`` over the whole model) and M's key prefix.
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
    return match, prefix


def loads_backbone(model: nn.Module, match: KeyMatch) -> bool:
    """bool: At least half of M's backbone keys are in ``match.matched``."""
    model = unwrap_model(model)
    prefix = module_prefix(model, get_inference_segmentor(model))
    backbone = [k for k in model.state_dict()
                if k.startswith(prefix + 'backbone.')]
    matched = set(match.matched)
    hit = sum(k in matched for k in backbone)
    return bool(backbone) and hit >= 0.5 * len(backbone)


def check_segmentor_checkpoint(model: nn.Module, state_dict: dict,
                               what: str,
                               min_ratio: float = 0.5) -> Tuple[KeyMatch,
                                                                bool]:
    """Count how a checkpoint fits M and stop when it hardly does.

    See :func:`segmentor_key_match`.

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
    match, _ = segmentor_key_match(model, state_dict, what)
    check_key_match(match, min_ratio)
    return match, loads_backbone(model, match)


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
    """Stop a run whose weights were not really loaded.

    Training (``check_training``):

    - ``load_from``: the matched / missing / unexpected key counts are
      logged, and the run stops (first keys on each side, likely prefix fix)
      when fewer than ``min_ratio`` of M's keys match.
    - A backbone that neither a ``Pretrained`` init nor ``load_from`` set is
      refused, naming the key to set, unless ``allow_random_init`` (then a
      warning is logged). A resumed run is not checked: it restores trained
      weights.

    Evaluation (``runner.test()`` / ``runner.val()`` outside training:
    ``tools/test.py``, MMSegmentation's ``test.py``, ``mim test``): the
    checkpoint must hold every weight of M, else the run stops before the
    first image with one line (counts, the prefix that would have matched,
    the converter command for a release checkpoint); ``allow_partial``
    (``tools/test.py --allow-partial``) evaluates it with a warning.

    The BDL loop does the training checks per phase itself, so the BDL
    configs set ``check_training=False``; the schedule bases add the hook
    to ``default_hooks`` as ``weights_check``.

    Args:
        allow_random_init (bool): Train a random backbone on purpose.
            Defaults to False.
        min_ratio (float): Smallest share of M's keys a ``load_from``
            checkpoint must match for training. Defaults to 0.5.
        allow_partial (bool): Evaluate a checkpoint that lacks part of M
            (warning). Defaults to False.
        check_training (bool): Do the training checks. Defaults to True.
    """

    priority = 'VERY_HIGH'

    def __init__(self, allow_random_init: bool = False,
                 min_ratio: float = 0.5, allow_partial: bool = False,
                 check_training: bool = True) -> None:
        self.allow_random_init = allow_random_init
        self.min_ratio = min_ratio
        self.allow_partial = allow_partial
        self.check_training = check_training
        self._loaded_backbone: Optional[str] = None
        # (checkpoint file, comparison over M, M's prefix, checkpoint keys)
        self._load: Optional[Tuple[str, KeyMatch, str, List[str]]] = None
        self._training = False
        self._evaluated = False

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Compare a ``load_from`` checkpoint with M (before MMEngine loads
        it); the verdict waits for the training or evaluation start."""
        if resume_requested(runner):
            return
        state = checkpoint.get('state_dict', checkpoint)
        filename = str(load_from(runner))
        match, prefix = segmentor_key_match(runner.model, state,
                                            f'load_from {filename}')
        self._load = (filename, match, prefix, list(state))
        if loads_backbone(runner.model, match):
            self._loaded_backbone = filename

    def before_train(self, runner) -> None:
        """Check the ``load_from`` checkpoint, refuse (or warn about) a
        random backbone."""
        self._training = True
        if not self.check_training or resume_requested(runner):
            return
        if self._load is not None:
            check_key_match(self._load[1], self.min_ratio, runner.logger)
        source = backbone_init_source(runner.model) or self._loaded_backbone
        if source is not None:
            runner.logger.info(f'M\'s backbone initialised from {source}')
            return
        message = random_backbone_message(
            runner.model, 'default_hooks.weights_check.allow_random_init')
        if not self.allow_random_init:
            raise ConfigCheckError(message)
        runner.logger.warning('allow_random_init=True: ' + message)

    def before_val(self, runner) -> None:
        """Refuse to evaluate a checkpoint that lacks part of M."""
        self._check_evaluation(runner)

    def before_test(self, runner) -> None:
        """Refuse to evaluate a checkpoint that lacks part of M."""
        self._check_evaluation(runner)

    def _check_evaluation(self, runner) -> None:
        if self._training or self._evaluated:
            return
        self._evaluated = True
        if self._load is None:
            if not resume_requested(runner):
                runner.logger.warning(
                    'evaluating without a checkpoint (load_from is None): '
                    'the model\'s weights are its initialisation')
            return
        filename, match, prefix, keys = self._load
        runner.logger.info(match.summary())
        require_complete_load(match, keys, filename, self.allow_partial,
                              converter_prefix=prefix, logger=runner.logger)
