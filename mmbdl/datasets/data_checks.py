"""Checks that turn bad data-set folders into clear errors at build time.

A missing root, an empty split, an image without a label (or the reverse),
an unreadable file or a size mismatch is reported here, naming the files and
the fix, instead of surfacing later inside a dataloader worker.
"""
import os
import os.path as osp
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from PIL import Image

MAX_LISTED = 10


class DataCheckError(ValueError):
    """A data-set folder that cannot be used, with the fix in the message."""


def format_names(names: Sequence[str], limit: int = MAX_LISTED) -> str:
    """Join the first ``limit`` names and say how many were left out."""
    names = list(names)
    shown = ', '.join(str(n) for n in names[:limit])
    if len(names) > limit:
        shown += f' ... and {len(names) - limit} more'
    return shown


def check_dir(path: Optional[str], what: str, hint: str = '') -> str:
    """Raise ``FileNotFoundError`` unless ``path`` is an existing folder.

    Args:
        path (str, optional): Folder to check.
        what (str): What the folder holds (for the message).
        hint (str): The fix to suggest. Defaults to ''.

    Returns:
        str: ``path``.
    """
    if not path or not osp.isdir(path):
        raise FileNotFoundError(
            f'{what} folder {path!r} does not exist' +
            (f'; {hint}' if hint else ''))
    return path


def scan_files(root: str, suffix: str) -> List[str]:
    """Paths (relative to ``root``) of all files below it ending in ``suffix``.

    Hidden files and temporary files of interrupted writes are skipped.

    Args:
        root (str): Folder to scan recursively.
        suffix (str): Required file-name ending.

    Returns:
        list[str]: Sorted relative paths.
    """
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith('.')]
        for name in filenames:
            if name.startswith('.') or not name.endswith(suffix):
                continue
            found.append(osp.relpath(osp.join(dirpath, name), root))
    return sorted(found)


def read_size(path: str) -> Tuple[Optional[Tuple[int, int]], str]:
    """Image size ``(w, h)`` from the file header, or an error message.

    Args:
        path (str): Image file.

    Returns:
        tuple: ``((w, h), '')`` or ``(None, reason)``.
    """
    try:
        with Image.open(path) as img:
            return img.size, ''
    except Exception as err:  # noqa: BLE001 (any decode failure)
        return None, f'{type(err).__name__}: {err}'


def read_sizes(paths: Iterable[str],
               num_threads: int = 8) -> Dict[str, Tuple]:
    """:func:`read_size` for many files, with a few I/O threads."""
    paths = list(paths)
    with ThreadPoolExecutor(max_workers=num_threads) as pool:
        return dict(zip(paths, pool.map(read_size, paths)))
