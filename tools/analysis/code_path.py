"""Count the files a reader follows along one path of a training run.

Runs a short training through ``tools/train.py`` under a profiler that
records, for every call into a file of a tracked package (``mmbdl``, and
``mmagic`` / ``mmseg`` / ``mmengine`` for the report), the nearest tracked
file on the call stack: an edge "this file handed control to that one"
(through upstream code or not). From a root file the tool then follows the
edges inside a scope and prints the files reached with their lines.

Paths:

- ``loop``: the K x N loop. Root: the file of ``train_cfg.type`` (the
  training loop). Two tables: the schedule (followed through
  ``mmbdl/engine/runner``; a hook, pseudo-labelling or translation module
  or a ``mmbdl/utils`` helper it hands over to is counted and not
  followed: hooks do the side effects) and everything (followed through
  ``mmbdl/engine`` and ``mmbdl/utils``). The model's step, the data
  pipeline and the metric are other paths.
- ``f_step``: one step of F. Root: the file of the translator's class
  (``model.translator.type``); followed through ``mmbdl/models``,
  ``mmbdl/utils`` and ``mmagic``.
- ``m_step``: one step of M. Root: the file of ``model.type``; followed
  through ``mmbdl/models`` and ``mmbdl/utils``.

``--package`` prints the line count of the whole ``mmbdl`` package instead
(no run). Lines are split with ``ast``: docstrings are the string
statements at the head of a module, class or function; comments and
blank lines apart; the rest is code.

Usage (the figures of the docs came from these):
    python tools/analysis/code_path.py configs/bdl/bdl_demo.py --path loop
    python tools/analysis/code_path.py configs/bdl/bdl_demo.py --path f_step
    python tools/analysis/code_path.py --package
"""
import argparse
import ast
import inspect
import io
import os
import os.path as osp
import sys
import tempfile
import threading
import tokenize
from collections import defaultdict
from typing import Dict, Iterable, List, Optional, Set, Tuple

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

UPSTREAM = ('mmagic', 'mmseg', 'mmengine')
# per path, tables of (title, followed prefixes, leaf prefixes): a file in
# a followed prefix is counted and followed, one in a leaf prefix counted
SCOPES = {
    'loop': [('schedule', ('mmbdl/engine/runner/', ),
              ('mmbdl/engine/', 'mmbdl/utils/')),
             ('everything', ('mmbdl/engine/', 'mmbdl/utils/'), ())],
    'f_step': [('F step', ('mmbdl/models/', 'mmbdl/utils/', 'mmagic/'),
                ())],
    'm_step': [('M step', ('mmbdl/models/', 'mmbdl/utils/'), ())],
}
# a few iterations per phase: every phase kind runs, the run is short
SHORT_RUN = [
    'train_cfg.phase_iters.source_only=2',
    'train_cfg.phase_iters.translation=[2,2]',
    'train_cfg.phase_iters.adaptation=2',
    'train_cfg.phase_iters.self_training=2',
]


def package_name(path: str) -> Optional[str]:
    """``'mmbdl/engine/x.py'``-style name of a tracked file, else None."""
    path = osp.abspath(path)
    mmbdl_dir = osp.join(ROOT, 'mmbdl') + os.sep
    if path.startswith(mmbdl_dir):
        return 'mmbdl/' + osp.relpath(path, mmbdl_dir).replace(os.sep, '/')
    parts = path.split(os.sep)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] in UPSTREAM and 'site-packages' in parts[:i]:
            return '/'.join(parts[i:])
    return None


class CallEdges:
    """A profiler collecting file-to-file edges of tracked files."""

    def __init__(self) -> None:
        self.edges: Dict[str, Set[str]] = defaultdict(set)
        self.paths: Dict[str, str] = {}
        self._names: Dict[str, Optional[str]] = {}

    def _name(self, filename: str) -> Optional[str]:
        if filename not in self._names:
            name = package_name(filename)
            self._names[filename] = name
            if name is not None:
                self.paths[name] = osp.abspath(filename)
        return self._names[filename]

    def __call__(self, frame, event, arg) -> None:
        if event != 'call':
            return
        callee = self._name(frame.f_code.co_filename)
        if callee is None:
            return
        caller = frame.f_back
        while caller is not None:
            name = self._name(caller.f_code.co_filename)
            if name is not None:
                if name != callee:
                    self.edges[name].add(callee)
                return
            caller = caller.f_back

    def __enter__(self) -> 'CallEdges':
        threading.setprofile(self)
        sys.setprofile(self)
        return self

    def __exit__(self, *exc) -> None:
        sys.setprofile(None)
        threading.setprofile(None)


def reach(edges: Dict[str, Set[str]], root: str, follow: Tuple[str, ...],
          leaves: Tuple[str, ...] = ()) -> List[str]:
    """Files reached from ``root``, in order of discovery (breadth first).

    Args:
        edges (dict): Caller file -> callee files.
        root (str): Where to start.
        follow (tuple[str]): Prefixes of the files counted and followed.
        leaves (tuple[str]): Prefixes of the files counted, not followed.
    """
    seen, queue = [root], [root]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(edges.get(node, ())):
            if nxt in seen:
                continue
            if nxt.startswith(follow):
                seen.append(nxt)
                queue.append(nxt)
            elif nxt.startswith(leaves):
                seen.append(nxt)
    return seen


def line_kinds(path: str) -> Dict[str, int]:
    """Lines of a Python file: total, code, docstring, comment/blank."""
    with open(path, encoding='utf-8') as f:
        source = f.read()
    lines = source.splitlines()
    doc = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, 'body', None)
        if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                 ast.AsyncFunctionDef)) or not body:
            continue
        head = body[0]
        if isinstance(head, ast.Expr) and isinstance(
                getattr(head, 'value', None), ast.Constant) and isinstance(
                    head.value.value, str):
            doc.update(range(head.lineno, head.end_lineno + 1))
    code = set()
    skip = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
            tokenize.DEDENT, tokenize.ENCODING, tokenize.ENDMARKER)
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in skip:
            code.update(range(tok.start[0], tok.end[0] + 1))
    code -= doc
    return dict(total=len(lines), code=len(code), docstring=len(doc),
                other=len(lines) - len(code) - len(doc))


def table(rows: Iterable[Tuple[str, Dict[str, int]]]) -> str:
    """A Markdown table of files and their line kinds, with a sum row."""
    out = ['| file | lines | code | docstrings | comments, blank |',
           '| --- | ---: | ---: | ---: | ---: |']
    total = defaultdict(int)
    count = 0
    for name, kinds in rows:
        count += 1
        out.append(f"| {name} | {kinds['total']} | {kinds['code']} | "
                   f"{kinds['docstring']} | {kinds['other']} |")
        for key, value in kinds.items():
            total[key] += value
    out.append(f"| **{count} files** | {total['total']} | {total['code']} "
               f"| {total['docstring']} | {total['other']} |")
    return '\n'.join(out)


def root_file(cfg, path: str) -> str:
    """The tracked name of the path's root file."""
    from mmbdl.registry import LOOPS, MODELS
    if path == 'loop':
        cls = LOOPS.get(cfg.train_cfg['type'])
    elif path == 'f_step':
        cls = MODELS.get(cfg.model['translator']['type'])
    else:
        cls = MODELS.get(cfg.model['type'])
    if cls is None:
        raise SystemExit(f'error: {path}: the config names no registered '
                         'class for its root')
    return package_name(inspect.getsourcefile(cls))


def run_traced(config: str, work_dir: str,
               options: List[str]) -> CallEdges:
    """Train ``config`` briefly under the profiler."""
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import train
    argv = [config, '--work-dir', work_dir]
    with open(train.__file__) as f:
        if '--skip-data-scan' in f.read():  # older checkouts lack it
            argv.append('--skip-data-scan')
    argv += ['--cfg-options'] + SHORT_RUN + options
    # the run's own output (progress bars write to the original stdout)
    # goes to a file, shown when the run fails
    with tempfile.TemporaryFile('w+') as log:
        saved = [os.dup(1), os.dup(2)]
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            with CallEdges() as edges:
                train.main(argv)
        except BaseException:
            failed = True
            raise
        else:
            failed = False
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            if failed:
                log.seek(0)
                sys.stderr.write(log.read()[-5000:])
    return edges


def package_table() -> str:
    rows = []
    for dirpath, dirs, files in os.walk(osp.join(ROOT, 'mmbdl')):
        dirs.sort()
        for name in sorted(files):
            if name.endswith('.py'):
                path = osp.join(dirpath, name)
                rows.append((package_name(path), line_kinds(path)))
    totals = defaultdict(int)
    for _, kinds in rows:
        for key, value in kinds.items():
            totals[key] += value
    return (f"mmbdl: {len(rows)} files, {totals['total']} lines: "
            f"{totals['code']} code, {totals['docstring']} docstrings, "
            f"{totals['other']} comments and blank lines")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', nargs='?', help='a config to train')
    parser.add_argument('--path', choices=sorted(SCOPES), default='loop')
    parser.add_argument('--package', action='store_true',
                        help="count the mmbdl package's lines instead")
    parser.add_argument('--cfg-options', nargs='*', default=[],
                        help='more key=value overrides of the short run')
    args = parser.parse_args(argv)
    if args.package:
        print(package_table())
        return
    if not args.config:
        parser.error('a config is needed unless --package is given')
    from mmbdl.utils import load_config, register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = load_config(args.config, None)
    root = root_file(cfg, args.path)
    with tempfile.TemporaryDirectory() as work_dir:
        edges = run_traced(args.config, work_dir, args.cfg_options)
    for title, follow, leaves in SCOPES[args.path]:
        files = reach(edges.edges, root, follow, leaves)
        rows = [(name, line_kinds(edges.paths[name])) for name in files]
        print(f'\n{title}: from {root}, followed through '
              f"{', '.join(follow)}"
              + (f"; counted, not followed: {', '.join(leaves)}"
                 if leaves else '') + ':')
        print(table(rows))


if __name__ == '__main__':
    main()
