"""Refuse a checkpoint that fills only part of the model it evaluates.

Training may start from a checkpoint that holds part of M (another head,
an ImageNet backbone): :func:`~mmbdl.utils.weights.key_match.check_key_match`
stops only when fewer than half of the keys match. An evaluation may not:
``tools/test.py``, ``tools/infer.py``, ``tools/pseudo_label.py``,
``tools/translate.py`` and MMSegmentation's ``test.py`` (through the
configs' ``default_hooks.weights_check``) refuse a checkpoint that leaves
any weight of the evaluated module at its initial value, in one line: the
matched / expected key counts, the prefix change that would make the keys
fit, and the converter command for a checkpoint of the BDL release.
``--allow-partial`` (config key :data:`ALLOW_PARTIAL_KEY`) evaluates it
anyway, with a warning.
"""
from typing import List, Optional, Sequence

from ..errors import ConfigCheckError
from .key_match import KeyMatch, suggest_prefix_fix

CONVERTER = 'tools/model_converters/bdl_to_mmbdl.py'
ALLOW_PARTIAL_KEY = 'default_hooks.weights_check.allow_partial'
ALLOW_PARTIAL_HINT = (f'--allow-partial (config: {ALLOW_PARTIAL_KEY}=True) '
                      'evaluates it anyway')


def counted(keys: Sequence[str]) -> List[str]:
    """Keys that hold weights (BatchNorm's ``num_batches_tracked`` counters
    are not used at inference and are absent from converted checkpoints).
    """
    return [k for k in keys if not k.endswith('num_batches_tracked')]


def is_complete(match: KeyMatch) -> bool:
    """bool: Every weight of the target module is in the checkpoint with its
    shape."""
    return (bool(counted(match.matched)) and not counted(match.missing)
            and not match.shape_mismatch)


def release_layout(checkpoint_keys: Sequence[str]) -> Optional[str]:
    """The BDL release layout a checkpoint's keys have, if any."""
    from .release_state_dict import detect_arch
    keys = [k[len('module.'):] if k.startswith('module.') else k
            for k in checkpoint_keys]
    try:
        return detect_arch(dict.fromkeys(keys))
    except ValueError:
        return None


def converter_command(src: str, prefix: str) -> str:
    """The converter's command line for a release checkpoint ``src``."""
    command = f'python {CONVERTER} {src} CONVERTED.pth'
    return command + f' --prefix {prefix}' if prefix else command


def partial_load_message(match: KeyMatch, checkpoint_keys: Sequence[str],
                         filename: str,
                         converter_prefix: Optional[str] = None,
                         opt_out: str = ALLOW_PARTIAL_HINT) -> str:
    """The one-line refusal of a checkpoint that fills part of a module.

    Args:
        match (KeyMatch): The comparison over the module's keys.
        checkpoint_keys (Sequence[str]): All keys of the checkpoint.
        filename (str): The checkpoint, for the converter command.
        converter_prefix (str, optional): ``--prefix`` of the converter for
            this module (``'segmentor.segmentor.'`` for M inside a BDL
            model); None where the converter does not apply (translators).
            Defaults to None.
        opt_out (str): How to evaluate it anyway. Defaults to
            :data:`ALLOW_PARTIAL_HINT`.

    Returns:
        str: The message.
    """
    module_keys = match.matched + match.missing + match.shape_mismatch
    parts = [
        f'{match.what}: {len(counted(match.matched))}/'
        f'{len(counted(module_keys))} weights of the evaluated module match '
        f'({len(counted(match.missing))} missing, '
        f'{len(match.shape_mismatch)} with another shape, '
        f'{len(match.unexpected)} checkpoint keys unexpected)'
    ]
    layout = release_layout(checkpoint_keys)
    if layout is not None and converter_prefix is not None:
        parts.append(
            f'it is a {layout} checkpoint of the BDL release: convert it '
            f'with {converter_command(filename, converter_prefix)} and '
            'evaluate CONVERTED.pth')
    else:
        # a change that fits at least half of the module is a fix
        fix = suggest_prefix_fix(list(checkpoint_keys), module_keys,
                                 min_hits=max(1, len(module_keys) // 2))
        if fix:
            parts.append(f'its keys would match if you {fix}')
        elif counted(match.matched):
            parts.append(
                f'it lacks e.g. {counted(match.missing)[:3]} (a checkpoint '
                'of part of the model, or of another variant of it?)')
        else:
            parts.append('no prefix change makes its keys fit (a checkpoint '
                         'of another architecture or class count?)')
        if converter_prefix is not None:
            parts.append(
                'a checkpoint of the BDL release is converted with '
                + converter_command('RELEASE.pth', converter_prefix))
    parts.append(opt_out)
    return '; '.join(parts)


def require_complete_load(match: KeyMatch,
                          checkpoint_keys: Sequence[str],
                          filename: str,
                          allow_partial: bool = False,
                          converter_prefix: Optional[str] = None,
                          opt_out: str = ALLOW_PARTIAL_HINT,
                          logger=None) -> None:
    """Stop (or, with ``allow_partial``, warn) unless ``match`` is complete.

    Args:
        match (KeyMatch): The comparison over the evaluated module's keys.
        checkpoint_keys (Sequence[str]): All keys of the checkpoint.
        filename (str): The checkpoint.
        allow_partial (bool): Warn instead of stopping. Defaults to False.
        converter_prefix (str, optional): See :func:`partial_load_message`.
        opt_out (str): See :func:`partial_load_message`.
        logger (MMLogger, optional): Defaults to the current MMLogger.

    Raises:
        ConfigCheckError: The message of :func:`partial_load_message`.
    """
    if is_complete(match):
        return
    message = partial_load_message(match, checkpoint_keys, filename,
                                   converter_prefix, opt_out)
    if not allow_partial:
        raise ConfigCheckError(message)
    from mmengine.logging import MMLogger
    logger = logger or MMLogger.get_current_instance()
    logger.warning('allow_partial=True: evaluating a checkpoint that fills '
                   'part of the model: ' + message)


def allow_partial_in(cfg) -> bool:
    """bool: The config's :data:`ALLOW_PARTIAL_KEY` (False if unset)."""
    hooks = cfg.get('default_hooks', None) or {}
    check = hooks.get('weights_check', None) or {}
    return bool(check.get('allow_partial', False))
