"""One run per work dir: the lock of ``tools/train.py``."""
import fcntl
import json
import os
import os.path as osp
import socket
import subprocess
import sys
import textwrap

import pytest
from data_fixtures import subprocess_env

from mmbdl.utils.work_dir_lock import (LOCK_NAME, WorkDirLock,
                                       WorkDirLockedError,
                                       WorkDirNotWritableError, launch_rank)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(REPO, 'configs', 'bdl', 'bdl_demo.py')


def _train(work_dir, *extra):
    return subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'train.py'), DEMO,
         '--work-dir', str(work_dir), *extra],
        env=subprocess_env(), capture_output=True, text=True, timeout=300)


def _dead_pid():
    proc = subprocess.Popen([sys.executable, '-c', 'pass'])
    proc.wait()
    return proc.pid


def test_lock_records_the_holder_and_is_removed_on_release(tmp_path):
    lock = WorkDirLock(str(tmp_path / 'wd'), command=['train.py', 'cfg'])
    with lock:
        info = json.loads((tmp_path / 'wd' / LOCK_NAME).read_text())
        assert info['pid'] == os.getpid()
        assert info['host'] == socket.gethostname()
        assert info['command'] == 'train.py cfg'
        assert info['started']
        # a second holder (another open file description) is refused
        with pytest.raises(WorkDirLockedError, match=f'pid {os.getpid()}'):
            WorkDirLock(str(tmp_path / 'wd')).acquire()
    assert not (tmp_path / 'wd' / LOCK_NAME).exists()
    # free again
    WorkDirLock(str(tmp_path / 'wd')).acquire().release()


def test_second_train_py_on_a_locked_work_dir_is_one_error_line(tmp_path):
    work_dir = tmp_path / 'wd'
    with WorkDirLock(str(work_dir), command=['run', 'A']):
        proc = _train(work_dir)
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr[-3000:]
    assert lines[0].startswith('error: work dir ')
    assert f'pid {os.getpid()} on {socket.gethostname()}' in lines[0]
    assert 'run A' in lines[0]
    # the refused run wrote nothing into the work dir
    assert sorted(os.listdir(work_dir)) == []


def test_killed_run_leaves_a_lock_file_that_the_next_run_takes(
        tmp_path, caplog):
    work_dir = tmp_path / 'wd'
    work_dir.mkdir()
    dead = _dead_pid()
    (work_dir / LOCK_NAME).write_text(
        json.dumps(dict(pid=dead, host=socket.gethostname(), command='old',
                        started='then')))
    lock = WorkDirLock(str(work_dir)).acquire()
    try:
        info = json.loads((work_dir / LOCK_NAME).read_text())
        assert info['pid'] == os.getpid()
    finally:
        lock.release()


def test_stale_lock_of_a_dead_pid_is_reported_and_taken_over(tmp_path):
    work_dir = tmp_path / 'wd'
    work_dir.mkdir()
    dead = _dead_pid()
    path = work_dir / LOCK_NAME
    path.write_text(
        json.dumps(dict(pid=dead, host=socket.gethostname(), command='old',
                        started='then')))
    # a process left behind by the dead holder still holds the flock
    holder = subprocess.Popen([
        sys.executable, '-c',
        textwrap.dedent(f"""
            import fcntl, os, sys, time
            fd = os.open({str(path)!r}, os.O_RDWR)
            fcntl.flock(fd, fcntl.LOCK_EX)
            print('held', flush=True)
            time.sleep(120)
        """)
    ], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'held'
        with pytest.raises(WorkDirLockedError) as err:
            WorkDirLock(str(work_dir)).acquire()
        assert f'stale lock of a dead process (pid {dead}' in str(err.value)
        assert '--force-unlock' in str(err.value)
        proc = _train(work_dir, '--force-unlock', '--cfg-options',
                      'train_cfg.no_such_key=1')
        # the lock was taken over: the run went on to the config check
        assert 'in use by another run' not in proc.stderr
        assert 'stale lock' not in proc.stderr
        assert 'taking over the lock' in proc.stdout + proc.stderr
        lock = WorkDirLock(str(work_dir), force=True).acquire()
        assert lock.held
        assert json.loads(path.read_text())['pid'] == os.getpid()
        lock.release()
    finally:
        holder.kill()
        holder.wait()


def test_unwritable_work_dir_is_one_error_line(tmp_path):
    blocker = tmp_path / 'a_file'
    blocker.write_text('x')
    with pytest.raises(WorkDirNotWritableError, match='--work-dir'):
        WorkDirLock(str(blocker / 'wd')).acquire()
    proc = _train(blocker / 'wd')
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr[-3000:]
    assert lines[0].startswith(f'error: work dir {blocker}/wd cannot be '
                               'written')


def test_only_rank_zero_takes_the_lock(monkeypatch):
    for key in ('RANK', 'SLURM_PROCID', 'OMPI_COMM_WORLD_RANK'):
        monkeypatch.delenv(key, raising=False)
    assert launch_rank() == 0
    monkeypatch.setenv('SLURM_PROCID', '3')
    assert launch_rank() == 3
    monkeypatch.setenv('RANK', '1')
    assert launch_rank() == 1


def test_flock_is_released_when_the_holder_is_killed(tmp_path):
    work_dir = tmp_path / 'wd'
    holder = subprocess.Popen([
        sys.executable, '-c',
        textwrap.dedent(f"""
            import time
            from mmbdl.utils.work_dir_lock import WorkDirLock
            WorkDirLock({str(work_dir)!r}).acquire()
            print('held', flush=True)
            time.sleep(120)
        """)
    ], stdout=subprocess.PIPE, text=True, env=subprocess_env())
    assert holder.stdout.readline().strip() == 'held'
    with pytest.raises(WorkDirLockedError, match=f'pid {holder.pid}'):
        WorkDirLock(str(work_dir)).acquire()
    holder.kill()
    holder.wait()
    fd = os.open(str(work_dir / LOCK_NAME), os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free after kill -9
    os.close(fd)
    WorkDirLock(str(work_dir)).acquire().release()


@pytest.mark.slow
def test_two_concurrent_train_py_runs_on_one_work_dir(tmp_path):
    """Run A trains; run B on the same work dir is refused in one line
    naming A, and A goes on training."""
    import time

    from mmbdl.datasets.demo import make_demo_data
    make_demo_data(str(tmp_path / 'data' / 'demo'), num_source=4,
                   num_target_train=2, num_target_val=2)
    work_dir = tmp_path / 'wd'
    # A: a source-only phase far longer than the test
    run_a = subprocess.Popen(
        [sys.executable, osp.join(REPO, 'tools', 'train.py'), DEMO,
         '--work-dir', str(work_dir), '--cfg-options',
         'train_cfg.phase_iters.source_only=1000000'],
        cwd=str(tmp_path), env=subprocess_env(), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        lock_file, holder = work_dir / LOCK_NAME, {}
        deadline = time.time() + 240
        while time.time() < deadline and holder.get('pid') != run_a.pid:
            assert run_a.poll() is None, 'run A ended before taking the lock'
            time.sleep(0.5)
            try:
                holder = json.loads(lock_file.read_text())
            except (OSError, ValueError):  # not there, or being written
                holder = {}
        assert holder.get('pid') == run_a.pid
        run_b = subprocess.run(
            [sys.executable, osp.join(REPO, 'tools', 'train.py'), DEMO,
             '--work-dir', str(work_dir)],
            cwd=str(tmp_path), env=subprocess_env(), capture_output=True,
            text=True,
            timeout=300)
        assert run_b.returncode == 2, run_b.stderr[-3000:]
        lines = run_b.stderr.strip().splitlines()
        assert len(lines) == 1, run_b.stderr[-3000:]
        assert lines[0].startswith('error: work dir ')
        assert f'pid {run_a.pid} on {socket.gethostname()}' in lines[0]
        assert run_a.poll() is None  # A still trains
    finally:
        run_a.kill()
        run_a.wait()
