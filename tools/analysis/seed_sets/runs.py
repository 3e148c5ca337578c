"""Training the seeds of a seed set, each in its own ``tools/train.py``
process, resuming the unfinished ones."""
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

from mmbdl.utils.errors import ConfigCheckError, RunStateError
from .configs import (SEED_KEYS, check_same_configs, check_seed_dir,
                      load_run_config, parse_options, segmentation_phases)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))
ROUNDS_FILE = 'bdl_rounds.json'
LOG_FILE = 'multi_seed_train.log'


def child_env() -> Dict[str, str]:
    """The environment of a child process: this one's, with one torch
    thread unless ``OMP_NUM_THREADS`` is set."""
    env = dict(os.environ)
    env.setdefault('OMP_NUM_THREADS', '1')
    return env


def run_logged(cmd: Sequence[str], log_file: str, what: str,
               mode: str = 'w') -> None:
    """Run a command to its end, its output into ``log_file``.

    Args:
        cmd (Sequence[str]): The command.
        log_file (str): Its log (stdout and stderr).
        what (str): The run's name in the error, e.g. ``'the oracle run'``.
        mode (str): ``'a'`` appends to an earlier log. Defaults to ``'w'``.

    Raises:
        RunStateError: If it exits with another status than 0.
    """
    with open(log_file, mode) as log:
        proc = subprocess.run(list(cmd), stdout=log,
                              stderr=subprocess.STDOUT, env=child_env())
    if proc.returncode != 0:
        raise RunStateError(f'{what} failed (exit {proc.returncode}); see '
                            f'{log_file}')


def seed_dir(work_dir: str, seed: int) -> str:
    """Work dir of one seed."""
    return osp.join(work_dir, f'seed_{seed}')


def read_rounds(path: str) -> Optional[dict]:
    """``bdl_rounds.json`` of a run, or None if absent / unreadable."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def seed_status(directory: str, phases: Sequence[str]) -> str:
    """'finished', 'partial' (something to resume) or 'absent'."""
    rounds = read_rounds(osp.join(directory, ROUNDS_FILE))
    if rounds is not None:
        done = {r.get('phase') for r in rounds.get('rows', [])
                if r.get('mIoU') is not None}
        if all(p in done for p in phases):
            return 'finished'
    if osp.isfile(osp.join(directory, 'last_checkpoint')):
        return 'partial'
    return 'absent'


def train_command(config: str, directory: str, seed: int,
                  cfg_options: Sequence[str], resume: bool) -> List[str]:
    """The ``tools/train.py`` command line of one seed."""
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'train.py'), config,
           '--work-dir', directory, '--cfg-options',
           f'randomness.seed={seed}'] + list(cfg_options)
    if resume:
        cmd.append('--resume')
    return cmd


def run_seeds(config: str, work_dir: str, seeds: Sequence[int],
              cfg_options: Sequence[str], jobs: int = 1,
              log=print, seed_options=None) -> Dict[int, float]:
    """Train every seed that is not finished, ``jobs`` at a time.

    Args:
        config (str): Config path.
        work_dir (str): Folder of the seed set.
        seeds (Sequence[int]): Seeds.
        cfg_options (Sequence[str]): ``key=value`` overrides for train.py.
        jobs (int): Parallel processes. Defaults to 1.
        log (Callable): Progress printer. Defaults to print.
        seed_options (Callable, optional): ``seed -> ['key=value', ...]``,
            overrides of one seed that may differ between seeds (only keys
            of :data:`SEED_KEYS`, e.g. ``load_from``). Defaults to None.

    Returns:
        dict[int, float]: Seconds each run of this call took.
    """
    def own(seed):
        extra = list(seed_options(seed)) if seed_options else []
        for key in parse_options(extra):
            if key not in SEED_KEYS:
                raise ConfigCheckError(f'per-seed option {key} may not '
                                       f'differ between seeds (only '
                                       f'{SEED_KEYS})')
        return list(cfg_options) + extra

    wanted = {s: load_run_config(config, s, parse_options(own(s)))
              for s in seeds}
    check_same_configs(wanted)
    phases = segmentation_phases(wanted[seeds[0]])
    todo = []
    for seed in seeds:
        directory = seed_dir(work_dir, seed)
        status = seed_status(directory, phases)
        check_seed_dir(wanted[seed], directory, seed, config)
        if status == 'finished':
            log(f'[multi_seed] seed {seed}: finished, kept ({directory})')
            continue
        todo.append((seed, directory, status == 'partial'))
    env = child_env()
    running: List[tuple] = []
    times: Dict[int, float] = {}
    failed = []

    def reap(block: bool) -> None:
        for item in list(running):
            seed, proc, start, handle = item
            if block or proc.poll() is not None:
                proc.wait()
                handle.close()
                running.remove(item)
                times[seed] = round(time.time() - start, 1)
                state = 'done' if proc.returncode == 0 else \
                    f'FAILED (exit {proc.returncode})'
                log(f'[multi_seed] seed {seed}: {state} in {times[seed]} s')
                if proc.returncode != 0:
                    failed.append(seed)

    for seed, directory, resume in todo:
        while len(running) >= max(1, jobs):
            time.sleep(1)
            reap(block=False)
        os.makedirs(directory, exist_ok=True)
        cmd = train_command(config, directory, seed, own(seed), resume)
        log(f'[multi_seed] seed {seed}: {"resuming" if resume else "running"}'
            f' -> {osp.join(directory, LOG_FILE)}')
        handle = open(osp.join(directory, LOG_FILE), 'a')
        proc = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT,
                                env=env, cwd=os.getcwd())
        running.append((seed, proc, time.time(), handle))
    while running:
        time.sleep(1)
        reap(block=False)
    if failed:
        log(f'[multi_seed] seeds {failed} failed; see {LOG_FILE} in their '
            'dirs; the merge reports them as missing')
    return times
