"""Checkpoint files of a work dir: readability and the one to resume from.

A checkpoint written by ``torch.save`` is a zip archive whose central
directory is at its end, so a truncated file (an interrupted copy, a full
disk) fails to open as a zip without reading the tensors.

:func:`resume_checkpoint` is what ``--resume`` (no file) reads: the work
dir's ``last_checkpoint`` resolved against the work dir (MMEngine writes an
absolute path, which in a copied or moved work dir names the original
folder), and, where that file cannot be read, the newest readable
checkpoint of the same work dir, with a warning.
"""
import glob
import os
import os.path as osp
import zipfile
from typing import Optional

from mmengine.logging import print_log

from ..errors import RunStateError

__all__ = ['UnreadableCheckpointError', 'unreadable_reason',
           'resume_checkpoint', 'unreadable_message']

# files of a work dir that are not resume points
NOT_RESUMABLE = ('bdl_initial_weights.pth', )


class UnreadableCheckpointError(RunStateError):
    """A checkpoint file is truncated or damaged."""


def unreadable_reason(path: str) -> Optional[str]:
    """Why a checkpoint file cannot be read, or None where it can.

    Only the zip structure is checked (cheap: the central directory), not
    the tensors.

    Args:
        path (str): The checkpoint file.

    Returns:
        str | None: The reason, or None.
    """
    if not osp.isfile(path):
        return 'no such file'
    if osp.getsize(path) == 0:
        return 'the file is empty'
    try:
        with zipfile.ZipFile(path) as archive:
            if not any(n.endswith('data.pkl') for n in archive.namelist()):
                return 'the archive holds no data.pkl'
    except zipfile.BadZipFile as err:
        return f'not a complete zip archive: {err}'
    except OSError as err:
        return str(err)
    return None


def unreadable_message(path: str, reason: str) -> str:
    """The one-line error for a checkpoint that cannot be read."""
    return (f'checkpoint {path} cannot be read ({reason}): it is truncated '
            'or damaged (an interrupted copy or write, a full disk); copy '
            'or download it again, or pass another checkpoint (tools/'
            'train.py --resume without a file falls back to the newest '
            'readable checkpoint of the work dir)')


def _inside(path: str, folder: str) -> bool:
    path, folder = osp.realpath(path), osp.realpath(folder)
    return osp.commonpath([path, folder]) == folder


def _last_checkpoint_reference(work_dir: str) -> Optional[str]:
    save_file = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(save_file):
        return None
    with open(save_file) as f:
        reference = f.read().strip()
    return reference or None


def resolve_in_work_dir(reference: str, work_dir: str) -> str:
    """A checkpoint reference of a work dir as a path in that work dir.

    A relative reference is resolved against ``work_dir``; an absolute one
    outside ``work_dir`` (a copied or moved work dir) is replaced by the
    work dir's file of the same name, with a warning, and refused where the
    work dir has none.

    Args:
        reference (str): The path ``last_checkpoint`` holds.
        work_dir (str): The work dir.

    Returns:
        str: The checkpoint path inside ``work_dir``.

    Raises:
        RunStateError: If the reference points outside the work dir and the
            work dir has no file of that name.
    """
    if not osp.isabs(reference):
        return osp.join(work_dir, reference)
    if _inside(reference, work_dir):
        return reference
    own = osp.join(work_dir, osp.basename(reference))
    if not osp.isfile(own):
        raise RunStateError(
            f'{osp.join(work_dir, "last_checkpoint")} names {reference}, '
            f'outside this work dir, and {own} does not exist; resume from '
            'a checkpoint of this work dir with --resume FILE')
    print_log(
        f'last_checkpoint names {reference}, outside this work dir (a '
        f'copied or moved work dir?); resuming from this work dir\'s {own}',
        logger='current', level=30)
    return own


def resume_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``--resume`` (without a file) continues from.

    Args:
        work_dir (str): The run's work dir.

    Returns:
        str | None: A readable checkpoint inside ``work_dir``, or None where
        the work dir has no ``last_checkpoint`` (a fresh start).

    Raises:
        UnreadableCheckpointError: If the latest checkpoint cannot be read
            and no other checkpoint of the work dir can.
    """
    reference = _last_checkpoint_reference(work_dir)
    if reference is None:
        return None
    path = resolve_in_work_dir(reference, work_dir)
    reason = unreadable_reason(path)
    if reason is None:
        return path
    candidates = [
        p for p in glob.glob(osp.join(work_dir, '*.pth'))
        if osp.basename(p) not in NOT_RESUMABLE
        and not p.endswith('_best.pth') and osp.abspath(p) != osp.abspath(
            path)
    ]
    candidates.sort(key=lambda p: (os.stat(p).st_mtime_ns, p), reverse=True)
    for candidate in candidates:
        if unreadable_reason(candidate) is None:
            print_log(
                f'the latest checkpoint {path} cannot be read ({reason}); '
                f'resuming from {candidate} instead, the newest readable '
                'checkpoint of this work dir (the iterations after it run '
                'again)',
                logger='current', level=30)
            return candidate
    raise UnreadableCheckpointError(
        unreadable_message(path, reason) +
        '; this work dir has no other readable checkpoint')
