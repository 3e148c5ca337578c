"""Atomic file writes: a temporary file in the same folder, then
``os.replace``.

A reader sees the old file or the complete new one, never a partial one; a
write that fails (a full disk, a kill) leaves the previous file as it was
and removes its temporary file.
"""
import errno
import os
import os.path as osp
from contextlib import contextmanager
from typing import IO, Iterator

from .errors import MMBDLUserError

__all__ = ['atomic_path', 'atomic_open', 'DiskFullError', 'temp_name']

DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class DiskFullError(MMBDLUserError, OSError):
    """A file could not be written for lack of space."""


def temp_name(path: str, suffix: str = '') -> str:
    """The temporary name :func:`atomic_path` writes ``path`` under: a
    hidden file of the same folder, unique per process.

    Args:
        path (str): The final path.
        suffix (str): Appended, for writers that choose the format by the
            file's ending (e.g. ``'.mp4'``). Defaults to ''.

    Returns:
        str: ``<folder>/.<name>.<pid>.tmp<suffix>``.
    """
    folder, name = osp.split(osp.abspath(path))
    return osp.join(folder, f'.{name}.{os.getpid()}.tmp{suffix}')


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str, fsync: bool = False, what: str = 'file',
                suffix: str = '') -> Iterator[str]:
    """Yield a temporary path to write; it replaces ``path`` on success.

    Args:
        path (str): The final path (its folder is created).
        fsync (bool): Flush the file to disk before the replace.
            Defaults to False.
        what (str): What the file is, for the full-disk error.
            Defaults to 'file'.
        suffix (str): Ending of the temporary name (:func:`temp_name`).
            Defaults to ''.

    Yields:
        str: The temporary path (the caller creates the file).

    Raises:
        DiskFullError: If the write fails for lack of space; ``path`` keeps
            its previous content.
    """
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = temp_name(path, suffix)
    try:
        yield tmp
        if fsync:
            _fsync(tmp)
        os.replace(tmp, path)
    except BaseException as err:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(err, OSError) and err.errno in DISK_FULL:
            kept = ('the previous one is intact'
                    if osp.exists(path) else 'nothing was written')
            raise DiskFullError(
                f'cannot write {what} {path}: {err.strerror} ({kept}); '
                f'free space in {osp.dirname(osp.abspath(path))} and run '
                'again (tools/train.py --resume continues a run)') from err
        raise


@contextmanager
def atomic_open(path: str, mode: str = 'w', fsync: bool = False,
                what: str = 'file', **kwargs) -> Iterator[IO]:
    """:func:`atomic_path` with the temporary file opened.

    Args:
        path (str): The final path.
        mode (str): ``'w'`` or ``'wb'``. Defaults to 'w'.
        fsync (bool): Flush to disk before the replace. Defaults to False.
        what (str): What the file is, for the full-disk error.
            Defaults to 'file'.
        **kwargs: Passed to ``open`` (e.g. ``encoding``).

    Yields:
        file: The open temporary file.
    """
    with atomic_path(path, fsync=fsync, what=what) as tmp:
        with open(tmp, mode, **kwargs) as f:
            yield f
