"""Loads that cannot silently miss: how a checkpoint's keys fit a module.

:func:`match_keys` counts the keys of a checkpoint against a module's
(matched, missing, unexpected, another shape), :func:`check_key_match` logs
the counts and stops when too few match, and :func:`suggest_prefix_fix`
names the prefix change that would make the keys fit.
"""
from typing import Dict, List, Optional


class KeyMatch:
    """How the keys of a checkpoint fit the module they are loaded into.

    Args:
        what (str): Name of the load for messages (e.g. ``load_from x.pth``).
        matched (list[str]): Module keys found with the same shape.
        missing (list[str]): Module keys the checkpoint lacks.
        unexpected (list[str]): Checkpoint keys the module lacks.
        shape_mismatch (list[str]): Keys found with another shape.
    """

    def __init__(self, what: str, matched: List[str], missing: List[str],
                 unexpected: List[str], shape_mismatch: List[str]) -> None:
        self.what = what
        self.matched = matched
        self.missing = missing
        self.unexpected = unexpected
        self.shape_mismatch = shape_mismatch

    @property
    def total(self) -> int:
        """int: Keys of the target module."""
        return len(self.matched) + len(self.missing) + len(
            self.shape_mismatch)

    @property
    def ratio(self) -> float:
        """float: Share of the target module's keys that match."""
        return len(self.matched) / self.total if self.total else 0.0

    def summary(self) -> str:
        """str: One line with the matched / missing / unexpected counts."""
        return (f'{self.what}: {len(self.matched)}/{self.total} keys '
                f'matched, {len(self.missing)} missing, '
                f'{len(self.unexpected)} unexpected, '
                f'{len(self.shape_mismatch)} with another shape')


def _strip_module(key: str) -> str:
    return key[len('module.'):] if key.startswith('module.') else key


def match_keys(state: Dict, target: Dict, what: str) -> KeyMatch:
    """Compare a checkpoint's state dict with a module's.

    Args:
        state (dict): Checkpoint keys -> tensors (``module.`` is ignored).
        target (dict): The module's ``state_dict()`` (or the part of it that
            the checkpoint is meant for).
        what (str): Name of the load for messages.

    Returns:
        KeyMatch: The comparison.
    """
    theirs = {_strip_module(k): v for k, v in state.items()}
    matched, missing, shapes = [], [], []
    for key, value in target.items():
        if key not in theirs:
            missing.append(key)
        elif tuple(getattr(theirs[key], 'shape', ())) != tuple(
                getattr(value, 'shape', ())):
            shapes.append(key)
        else:
            matched.append(key)
    unexpected = [k for k in theirs if k not in target]
    return KeyMatch(what, matched, missing, unexpected, shapes)


def suggest_prefix_fix(checkpoint_keys: List[str],
                       target_keys: List[str],
                       min_hits: int = 1) -> Optional[str]:
    """The prefix change that makes most checkpoint keys fit the module.

    Tries removing a leading part of the checkpoint keys and adding a
    leading part of the module keys (up to three dotted levels each).

    Args:
        checkpoint_keys (list[str]): Keys of the checkpoint.
        target_keys (list[str]): Keys of the module.
        min_hits (int): Fewest keys the change must make match (a change
            that fits a handful of keys by coincidence is no fix).
            Defaults to 1.

    Returns:
        str | None: e.g. ``"add the prefix 'segmentor.'"``, or None if no
        change helps.
    """
    target = set(target_keys)

    def heads(keys):
        found = {''}
        for key in keys:
            parts = key.split('.')
            for n in range(1, min(4, len(parts))):
                found.add('.'.join(parts[:n]) + '.')
        return found

    ckpt = [_strip_module(k) for k in checkpoint_keys]
    best, best_hits = None, sum(k in target for k in ckpt)
    for remove in heads(ckpt):
        stripped = [k[len(remove):] for k in ckpt if k.startswith(remove)]
        for add in heads(target_keys):
            if not remove and not add:
                continue
            hits = sum(add + k in target for k in stripped)
            if hits > best_hits:
                best, best_hits = (remove, add), hits
    if best is None or best_hits < min_hits:
        return None
    remove, add = best
    parts = []
    if remove:
        parts.append(f'remove the prefix {remove!r}')
    if add:
        parts.append(f'add the prefix {add!r}')
    return (' and '.join(parts) + f' ({best_hits} of {len(target)} keys '
            'would then match)')


def check_key_match(match: KeyMatch,
                    min_ratio: float = 0.5,
                    logger=None) -> KeyMatch:
    """Log the counts of a load and stop when too few keys match.

    Args:
        match (KeyMatch): Result of :func:`match_keys`.
        min_ratio (float): Smallest acceptable share of the target module's
            keys that match. Defaults to 0.5.
        logger (MMLogger, optional): Defaults to the current MMLogger.

    Returns:
        KeyMatch: ``match``, for chaining.

    Raises:
        ConfigCheckError: With the first keys on each side and the likely
            prefix fix when fewer than ``min_ratio`` of the keys match.
    """
    from mmengine.logging import MMLogger
    logger = logger or MMLogger.get_current_instance()
    logger.info(match.summary())
    if match.total and match.ratio >= min_ratio:
        if match.missing or match.shape_mismatch:
            logger.warning(
                f'{match.what}: not loaded: '
                f'{(match.missing + match.shape_mismatch)[:5]}'
                + (' ...' if len(match.missing) + len(match.shape_mismatch)
                   > 5 else ''))
        return match
    checkpoint_keys = match.matched + match.unexpected + match.shape_mismatch
    module_keys = match.matched + match.missing + match.shape_mismatch
    fix = suggest_prefix_fix(checkpoint_keys, module_keys)
    from ..errors import ConfigCheckError
    raise ConfigCheckError(
        f'{match.summary()}: fewer than {min_ratio:.0%} of the module\'s '
        f'keys match. Checkpoint keys: {sorted(checkpoint_keys)[:4]}; module '
        f'keys: {sorted(module_keys)[:4]}. '
        + (f'Likely fix: {fix}. ' if fix else '')
        + 'Use a checkpoint of this architecture (release checkpoints: '
        'tools/model_converters/bdl_to_mmbdl.py, with --prefix for the '
        'module it is loaded into)')
