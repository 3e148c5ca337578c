"""Checks that turn bad data-set folders into clear errors at build time.

A missing root, an empty split, an image without a label (or the reverse),
an unreadable file or a size mismatch is reported here, naming the files and
the fix, instead of surfacing later inside a dataloader worker.
"""
import hashlib
import os
import os.path as osp
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from PIL import Image

from mmbdl.utils.errors import MissingFileError, MMBDLUserError

MAX_LISTED = 10
# header sizes already read in this process, by folder fingerprint: every
# phase of the BDL loop rebuilds its data sets over the same files
_SIZE_CACHE: Dict[str, Dict[str, Tuple]] = {}
_SIZE_CACHE_LOCK = threading.Lock()
_SIZE_CACHE_MAX = 32


class DataCheckError(MMBDLUserError, ValueError):
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
        raise MissingFileError(
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


def fingerprint(paths: Sequence[str]) -> str:
    """SHA-1 of the paths with their sizes and modification times.

    Any added, removed, replaced or rewritten file changes it; computing it
    costs one ``stat`` per file (no file is opened).

    Args:
        paths (Sequence[str]): Files.

    Returns:
        str: Hex digest.
    """
    sha = hashlib.sha1()
    for path in paths:
        try:
            st = os.stat(path)
            stamp = f'{st.st_size}:{st.st_mtime_ns}:{st.st_ino}'
        except OSError:
            stamp = 'missing'
        sha.update(f'{path}\0{stamp}\n'.encode())
    return sha.hexdigest()


def read_sizes_cached(paths: Iterable[str],
                      num_threads: int = 8) -> Dict[str, Tuple]:
    """:func:`read_sizes`, remembered by :func:`fingerprint` of the files.

    A second check of unchanged files (the same data set rebuilt by the
    next phase) only stats them. Failed reads are not cached.

    Args:
        paths (Iterable[str]): Files.
        num_threads (int): I/O threads of a fresh read. Defaults to 8.

    Returns:
        dict: ``{path: ((w, h) or None, reason)}``.
    """
    paths = list(paths)
    key = fingerprint(paths)
    with _SIZE_CACHE_LOCK:
        hit = _SIZE_CACHE.get(key)
    if hit is not None:
        return dict(hit)
    sizes = read_sizes(paths, num_threads)
    if all(size is not None for size, _ in sizes.values()):
        with _SIZE_CACHE_LOCK:
            if len(_SIZE_CACHE) >= _SIZE_CACHE_MAX:
                _SIZE_CACHE.pop(next(iter(_SIZE_CACHE)))
            _SIZE_CACHE[key] = dict(sizes)
    return sizes


def clear_size_cache() -> None:
    """Forget every cached header check of this process."""
    with _SIZE_CACHE_LOCK:
        _SIZE_CACHE.clear()
