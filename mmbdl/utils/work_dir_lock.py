"""One run per work dir: an advisory ``fcntl.flock`` lock file.

``tools/train.py`` takes the lock ``<work_dir>/.mmbdl_run.lock`` before it
builds the runner and holds it until the process ends (the kernel releases a
``flock`` when its holder exits, even after ``kill -9``). The file holds the
holder's pid, host, command and start time as JSON, so that a second run
refused on the same work dir can name it.

A lock file left by a dead process on this host whose lock is still held
(a surviving child process inherited it), or one held from another host on
a shared file system, is taken over with ``force=True``
(``tools/train.py --force-unlock``): the old file is removed and a new one
is locked, with a warning that names the previous holder.

Only rank 0 of a distributed run takes the lock (:func:`launch_rank`).
"""
import datetime
import errno
import fcntl
import json
import os
import os.path as osp
import socket
import sys
from typing import List, Optional

from mmengine.logging import print_log

from .errors import RunStateError

LOCK_NAME = '.mmbdl_run.lock'

__all__ = ['LOCK_NAME', 'WorkDirLock', 'WorkDirLockedError',
           'WorkDirNotWritableError', 'launch_rank']


class WorkDirLockedError(RunStateError):
    """Another run holds the work dir's lock."""


class WorkDirNotWritableError(RunStateError, PermissionError):
    """The work dir cannot be created or written."""


def launch_rank() -> int:
    """The process's global rank as the launcher set it (before
    ``torch.distributed`` is initialised): ``RANK`` (torchrun / pytorch
    launcher), ``SLURM_PROCID`` or ``OMPI_COMM_WORLD_RANK``; 0 otherwise.

    Returns:
        int: The rank.
    """
    for key in ('RANK', 'SLURM_PROCID', 'OMPI_COMM_WORLD_RANK'):
        if os.environ.get(key, '').isdigit():
            return int(os.environ[key])
    return 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def describe_holder(info: dict) -> str:
    """One-line description of a lock file's content."""
    if not info:
        return 'an unknown process (the lock file is empty)'
    return (f"pid {info.get('pid')} on {info.get('host')}, started "
            f"{info.get('started')}: {info.get('command')}")


class WorkDirLock:
    """An exclusive, advisory lock on a work dir.

    Args:
        work_dir (str): The run's work dir (created if missing).
        force (bool): Take over a lock that another process holds.
            Defaults to False.
        command (list[str], optional): The command recorded in the lock
            file. Defaults to None (``sys.argv``).
    """

    def __init__(self, work_dir: str, force: bool = False,
                 command: Optional[List[str]] = None) -> None:
        self.work_dir = osp.abspath(work_dir)
        self.path = osp.join(self.work_dir, LOCK_NAME)
        self.force = force
        self.command = ' '.join(command if command is not None else
                                [sys.executable, *sys.argv])
        self._fd: Optional[int] = None

    # ------------------------------------------------------------------
    def read_holder(self) -> dict:
        """The lock file's content, ``{}`` where missing or unreadable."""
        try:
            with open(self.path) as f:
                return json.loads(f.read() or '{}')
        except (OSError, ValueError):
            return {}

    def _open(self) -> int:
        try:
            os.makedirs(self.work_dir, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                           0o644)
        except OSError as err:
            if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS,
                             errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR,
                             errno.EEXIST):
                raise WorkDirNotWritableError(
                    f'work dir {self.work_dir} cannot be written '
                    f'({err.strerror}); pass a writable folder with '
                    '--work-dir') from None
            raise

    def _refuse(self, holder: dict) -> None:
        same_host = holder.get('host') == socket.gethostname()
        pid = holder.get('pid')
        if same_host and isinstance(pid, int) and not _pid_alive(pid):
            raise WorkDirLockedError(
                f'work dir {self.work_dir} is locked by a stale lock of a '
                f'dead process ({describe_holder(holder)}), still held by a '
                'process it left behind; stop that process, or take the '
                'lock over with --force-unlock')
        raise WorkDirLockedError(
            f'work dir {self.work_dir} is in use by another run '
            f'({describe_holder(holder)}); wait for it to end or pass '
            'another --work-dir (--force-unlock takes the lock over, only '
            'if that run is surely gone)')

    def acquire(self) -> 'WorkDirLock':
        """Take the lock and write the holder's description.

        Returns:
            WorkDirLock: ``self``.

        Raises:
            WorkDirLockedError: If another process holds it (and not
                ``force``).
            WorkDirNotWritableError: If the work dir cannot be written.
        """
        for _ in range(10):
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                holder = self.read_holder()
                if not self.force:
                    self._refuse(holder)
                print_log(
                    f'--force-unlock: taking over the lock of work dir '
                    f'{self.work_dir} from {describe_holder(holder)}',
                    logger='current', level=30)
                os.unlink(self.path)
                self.force = False
                continue
            # the file may have been removed and re-created meanwhile
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            previous = self.read_holder()
            if previous:
                print_log(
                    f'work dir {self.work_dir}: the previous run '
                    f'({describe_holder(previous)}) ended without releasing '
                    'its lock (killed?); this run takes it',
                    logger='current', level=30)
            self._fd = fd
            self._write_holder()
            return self
        raise WorkDirLockedError(
            f'work dir {self.work_dir}: could not take the lock '
            f'{self.path}, other processes keep re-creating it')

    def _write_holder(self) -> None:
        info = dict(pid=os.getpid(), host=socket.gethostname(),
                    command=self.command,
                    started=datetime.datetime.now().isoformat(
                        timespec='seconds'))
        data = json.dumps(info).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)
        os.fsync(self._fd)

    def release(self) -> None:
        """Remove the lock file and release the lock (idempotent)."""
        if self._fd is None:
            return
        try:
            if os.stat(self.path).st_ino == os.fstat(self._fd).st_ino:
                os.unlink(self.path)
        except FileNotFoundError:
            pass
        os.close(self._fd)
        self._fd = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def __enter__(self) -> 'WorkDirLock':
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
