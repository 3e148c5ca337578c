"""MMEngine's ``Pretrained`` init, with the load counted and checked.

It lives outside :mod:`mmbdl.utils.weights` (the package of checkpoint and
weight-format code) because it is registered in ``WEIGHT_INITIALIZERS``,
whose lazy-import locations are ``mmbdl.models``: a utils module may not
use a registry of a higher layer. The key matching it relies on is
:mod:`mmbdl.utils.weights.key_match`.
"""
from typing import Optional

from mmengine.logging import MMLogger
from mmengine.model.weight_init import PretrainedInit, update_init_info

from mmbdl.registry import WEIGHT_INITIALIZERS
from mmbdl.utils.errors import ConfigCheckError
from mmbdl.utils.weights import check_key_match, match_keys, suggest_prefix_fix

# attribute set on a module that a checked Pretrained init loaded
PRETRAINED_ATTR = '_mmbdl_pretrained_from'


@WEIGHT_INITIALIZERS.register_module(name='Pretrained')
class CheckedPretrainedInit(PretrainedInit):
    """``init_cfg=dict(type='Pretrained', ...)`` that cannot silently miss.

    Registered under MMEngine's own name in the ``mmbdl`` scope, so every
    ``Pretrained`` init of an mmbdl config (including MMSegmentation
    backbones with ``pretrained=...``) goes through it; MMEngine still
    applies it after the module's other inits, as for its own class. Unlike
    MMEngine's, which logs missing keys and goes on, it logs the matched /
    missing / unexpected counts and stops with the first keys on each side
    and the likely prefix fix when fewer than ``min_ratio`` of the module's
    keys match. Checkpoints with the ``bdl://`` scheme are release files
    converted on load (:mod:`mmbdl.utils.weights.pretrained_weights`).

    A module with a ``check_pretrained(state, checkpoint)`` method (the
    DINOv2 backbone) checks the selected weights first and may refuse them
    with its own message (e.g. another model size).

    A module it loaded carries ``_mmbdl_pretrained_from`` (the checkpoint),
    which the BDL loop reads to refuse a randomly initialised backbone.

    Args:
        checkpoint (str): Path, URL, ``bdl://<source>``, ``open-mmlab://...``
            or any scheme of MMEngine's ``CheckpointLoader``.
        prefix (str, optional): Take only the checkpoint's keys under this
            prefix (stripped), e.g. ``'backbone.'``. Defaults to None.
        map_location (str): Defaults to 'cpu'.
        min_ratio (float): Smallest share of the module's keys that must
            match. Defaults to 0.5.
    """

    def __init__(self,
                 checkpoint: str,
                 prefix: Optional[str] = None,
                 map_location: str = 'cpu',
                 min_ratio: float = 0.5) -> None:
        super().__init__(checkpoint, prefix, map_location)
        self.min_ratio = min_ratio

    def __call__(self, module) -> None:
        from mmengine.runner.checkpoint import _load_checkpoint
        checkpoint = _load_checkpoint(self.checkpoint, self.map_location)
        state = checkpoint.get('state_dict', checkpoint) \
            if isinstance(checkpoint, dict) else checkpoint
        what = f'init_cfg Pretrained {self.checkpoint}'
        if self.prefix:
            prefix = self.prefix if self.prefix.endswith('.') \
                else self.prefix + '.'
            what += f' (keys under {prefix!r})'
            selected = {k[len(prefix):]: v for k, v in state.items()
                        if k.startswith(prefix)}
            if not selected:
                raise ConfigCheckError(self._no_prefix_message(
                    what, prefix, state, module))
            state = selected
        # a module can refuse weights of another size with its own message
        check = getattr(module, 'check_pretrained', None)
        if callable(check):
            check(state, self.checkpoint)
        match = check_key_match(
            match_keys(state, module.state_dict(), what), self.min_ratio,
            MMLogger.get_current_instance())
        module.load_state_dict({k: state[k] for k in match.matched},
                               strict=False)
        setattr(module, PRETRAINED_ATTR, self.checkpoint)
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())

    def _no_prefix_message(self, what: str, prefix: str, state: dict,
                           module) -> str:
        own = module.state_dict()
        direct = match_keys(state, own, what)
        if direct.total and direct.ratio >= self.min_ratio:
            hint = (f'remove the prefix {prefix!r} (prefix=None): '
                    f'{direct.ratio:.0%} of the module\'s keys then match')
        else:
            hint = suggest_prefix_fix(list(state),
                                      [prefix + k for k in own]) or \
                'use a checkpoint of this architecture'
        return (f'{what}: no key starts with {prefix!r}; checkpoint keys: '
                f'{sorted(state)[:4]}; module keys: {sorted(own)[:4]}; '
                f'likely fix: {hint}')
