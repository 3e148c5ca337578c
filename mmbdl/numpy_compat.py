"""Names that numpy 2 removed and that mmbdl's dependencies still use.

MMagic 1.2.0 (the last release) names ``np.bool8`` at import time
(``mmagic/utils/trans_utils.py``); numpy 2 removed that alias of
``np.bool_``. :func:`apply_numpy2_aliases` restores it, only on numpy >= 2
and only where it is missing, before anything imports MMagic: mmbdl's
``__init__`` calls it, so ``import mmbdl`` (every entry point and config
of the project does) makes ``import mmagic`` work on numpy 2. Nothing on
disk is patched.
"""
import numpy as np

# removed alias -> the numpy 2 name it stood for
ALIASES = {'bool8': 'bool_'}


def apply_numpy2_aliases() -> list:
    """Add the removed aliases that are missing (numpy >= 2 only).

    Returns:
        list[str]: The names added (empty on numpy 1, or when present).
    """
    if np.lib.NumpyVersion(np.__version__) < '2.0.0':
        return []
    added = []
    for old, new in ALIASES.items():
        if not hasattr(np, old):
            setattr(np, old, getattr(np, new))
            added.append(old)
    return added
