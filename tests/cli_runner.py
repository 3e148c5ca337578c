"""Run a command-line tool of the repository in this process.

A fresh Python per CLI call costs 6-10 s of imports (torch, mmseg,
mmagic); where process isolation is not the point of a test,
:func:`run_tool` executes the script as ``python TOOL ARGS`` would (its
``if __name__ == '__main__'`` block, so ``run_cli``'s ``error:`` lines and
exit codes are the real ones) in this process, with its output captured.

What a run changes in this process is put back afterwards: ``sys.argv``,
``sys.path``, the working directory, the environment, torch's thread count
and determinism switch, the random states of ``random`` / numpy / torch,
warning filters, and MMEngine's global instances (``MMLogger``,
``Visualizer``, ``DefaultScope``, ``MessageHub``, ...: every
``ManagerMixin`` instance the run created is dropped and its log files are
closed), so a second run in the same second cannot pick up the first run's
logger or visualizer.
"""
import contextlib
import io
import logging
import os
import os.path as osp
import random
import runpy
import sys
import traceback
import warnings
from typing import Dict, List, NamedTuple, Optional

import numpy as np
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


class ToolResult(NamedTuple):
    """What a subprocess run would give: exit status and the two streams."""
    returncode: int
    stdout: str
    stderr: str


def _manager_classes() -> list:
    from mmengine.utils import ManagerMixin
    found, todo = [], [ManagerMixin]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return found


def _exit_code(code) -> int:
    """The exit status ``sys.exit(code)`` gives a process."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # sys.exit('message') prints it
    return 1


def _close_handlers(instance) -> None:
    if isinstance(instance, logging.Logger):
        for handler in list(instance.handlers):
            if isinstance(handler, logging.FileHandler):
                handler.close()
                instance.removeHandler(handler)


@contextlib.contextmanager
def _console_to(out: io.StringIO, err: io.StringIO):
    """Point the console handlers of the MMLoggers that exist already (e.g.
    ``mmengine``'s, bound to the stream of their first use) at ``out`` /
    ``err``, as a fresh process's would write to its own streams."""
    from mmengine.logging import MMLogger
    saved = []
    for logger in list(MMLogger._instance_dict.values()):
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and not isinstance(
                    handler, logging.FileHandler):
                stream = handler.stream
                to_err = stream in (sys.stderr, sys.__stderr__) or getattr(
                    stream, 'name', '') == '<stderr>'
                # swapped without setStream, which flushes the old stream:
                # a stream captured by an earlier test may be closed by now
                saved.append((handler, stream))
                handler.stream = err if to_err else out
    try:
        yield
    finally:
        for handler, stream in saved:
            handler.stream = stream


def mmengine_instances() -> dict:
    """The names of MMEngine's global instances (``MMLogger``,
    ``Visualizer``, ``MessageHub``, ``DefaultScope``, ...), per class."""
    return {cls: set(cls._instance_dict) for cls in _manager_classes()}


def drop_new_instances(before: dict) -> None:
    """Drop the global instances created since ``before`` (a
    :func:`mmengine_instances` record), their log files closed."""
    for cls in _manager_classes():
        old = before.get(cls, set())
        for name in [n for n in cls._instance_dict if n not in old]:
            _close_handlers(cls._instance_dict.pop(name))


@contextlib.contextmanager
def isolated_process_state(cwd: Optional[str] = None,
                           env: Optional[Dict[str, str]] = None):
    """Put back the process state a tool run changes (module docstring).

    Args:
        cwd (str, optional): Working directory during the run.
        env (dict, optional): Variables set during the run (on top of the
            current environment).
    """
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    saved_argv, saved_path = list(sys.argv), list(sys.path)
    saved_threads = torch.get_num_threads()
    saved_det = torch.are_deterministic_algorithms_enabled()
    saved_rng = (random.getstate(), np.random.get_state(),
                 torch.get_rng_state())
    managers = mmengine_instances()
    try:
        if env:
            os.environ.update(env)
        if cwd is not None:
            os.chdir(cwd)
        with warnings.catch_warnings():
            yield
    finally:
        drop_new_instances(managers)
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        sys.argv[:], sys.path[:] = saved_argv, saved_path
        torch.set_num_threads(saved_threads)
        torch.use_deterministic_algorithms(saved_det)
        random.setstate(saved_rng[0])
        np.random.set_state(saved_rng[1])
        torch.set_rng_state(saved_rng[2])


def run_tool(tool: str, args: List[str], cwd: Optional[str] = None,
             env: Optional[Dict[str, str]] = None) -> ToolResult:
    """Run ``python TOOL ARGS`` in this process; capture its output.

    Args:
        tool (str): The script, relative to the repository root (e.g.
            ``tools/train.py``) or absolute.
        args (list[str]): Its arguments.
        cwd (str, optional): Working directory (default: the repository
            root, like the subprocess tests).
        env (dict, optional): Extra environment variables for the run.

    Returns:
        ToolResult: ``returncode`` (0, ``sys.exit``'s status, 2 for
        ``run_cli``'s user errors, 1 for an uncaught exception, whose
        traceback is in ``stderr`` as Python would print it), ``stdout``
        and ``stderr``.
    """
    path = tool if osp.isabs(tool) else osp.join(REPO, tool)
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with isolated_process_state(REPO if cwd is None else cwd, env):
        sys.argv[:] = [path] + [str(a) for a in args]
        sys.path.insert(0, osp.dirname(path))  # as `python TOOL` does
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(
                err), _console_to(out, err):
            try:
                runpy.run_path(path, run_name='__main__')
            except SystemExit as exit_:
                code = _exit_code(exit_.code)
            except Exception:  # noqa: BLE001 (a process would exit 1)
                traceback.print_exc()
                code = 1
    return ToolResult(code, out.getvalue(), err.getvalue())


def run_script(script: str, *args, cwd: Optional[str] = None,
               check: bool = True,
               env: Optional[Dict[str, str]] = None) -> ToolResult:
    """:func:`run_tool` with the arguments of ``python SCRIPT ARGS...``.

    Args:
        script (str): The script (relative to the repository or absolute).
        *args: Its arguments.
        cwd (str, optional): Working directory (default: the repository).
        check (bool): Raise ``AssertionError`` with both streams when the
            exit status is not 0. Defaults to True.
        env (dict, optional): Extra environment variables for the run.
    """
    result = run_tool(script, list(args), cwd=cwd, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f'{[script, *args]} exited {result.returncode}'
                             f'\n{result.stdout}\n{result.stderr}')
    return result
