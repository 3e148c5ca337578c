"""Every run shown in README.md and docs/demo.md writes to its own work dir.

The commands are read from README.md and docs/demo.md (the demo's earlier
measurements, moved out of the README), code blocks and inline code, the way a
user copies them; each one's work dir is its ``--work-dir`` or the tool's
own default (taken from the tool's code, and from the Makefile for
``make``). Two different runs in one folder would mix their checkpoints and
tables, or the second would be refused by the first's resume checks. A
``--merge-only`` call trains nothing: it must read the folder of a run
shown.
"""
import argparse
import os.path as osp
import re
import shlex
import subprocess
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'tools', 'analysis'))

from rehearsal.config_setup import \
    default_work_dir as rehearsal_dir  # noqa: E402
from seed_sets.configs import default_work_dir  # noqa: E402

TOOLS = ('tools/train.py', 'tools/analysis/multi_seed.py',
         'tools/analysis/ablation.py', 'tools/analysis/rehearse.py')


def readme_commands(text: str):
    """``python tools/...`` and ``make ...`` commands shown in the text."""
    found = []
    for block in re.findall(r'```shell\n(.*?)```', text, flags=re.S):
        for line in block.replace('\\\n', ' ').splitlines():
            line = line.split('  #')[0].strip()
            if line:
                found.append(line)
    prose = re.sub(r'```.*?```', '', text, flags=re.S)
    found += re.findall(r'`([^`\n]+)`', prose)
    return [c for c in found
            if c.startswith(('python tools/', 'make '))]


def is_template(command: str) -> bool:
    """A usage line with placeholders, not a command to run."""
    return bool(re.search(r'<\w|\[|\b(CONFIG|CKPT|PATH|DIR)\b', command))


def makefile_variable(name: str, variables=()) -> str:
    """The value ``make`` gives a variable (with ``VAR=value`` words)."""
    proc = subprocess.run(
        ['make', '-s', '-f', '-', 'show', *variables],
        input=open(osp.join(REPO, 'Makefile')).read() +
        f'\nshow:\n\t@echo $({name})\n', cwd=REPO,
        capture_output=True, text=True, check=True)
    return proc.stdout.strip()


def parse(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument('config', nargs='?',
                        default='configs/bdl/bdl_demo.py')
    parser.add_argument('--work-dir')
    parser.add_argument('--merge-only', action='store_true')
    parser.add_argument('--plan-only', action='store_true')
    args, _ = parser.parse_known_args(argv)
    return args


def work_dirs_of(command: str):
    """``(folders written, folder read or None)`` of a README command."""
    words = shlex.split(command)
    if words[0] == 'make':
        target = words[1]
        variables = [w for w in words[2:] if '=' in w]
        if target == 'demo':
            return [makefile_variable('DEMO_WORK_DIR', variables)], None
        if target == 'rehearsal':
            return [rehearsal_dir(makefile_variable(
                'REHEARSAL_CONFIG', variables))], None
        return [], None  # env, test, demo-data: no work dir
    tool, args = words[1], parse(words[2:])
    if tool == 'tools/train.py':
        return [args.work_dir or default_work_dir(args.config, '')], None
    if tool == 'tools/analysis/multi_seed.py':
        folder = args.work_dir or default_work_dir(args.config, '_seeds')
        return ([], folder) if args.merge_only else ([folder], None)
    if tool == 'tools/analysis/ablation.py':
        folder = args.work_dir or default_work_dir(args.config, '_ablation')
        if args.merge_only:
            return [], folder
        return [folder] + [osp.join(folder, v)
                           for v in ('full', 'no_perceptual')], None
    if tool == 'tools/analysis/rehearse.py':
        return ([] if args.plan_only else
                [args.work_dir or rehearsal_dir(args.config)]), None
    return [], None  # tools/test.py, infer.py, ...: evaluations


def check_commands(commands):
    """The collisions and unread folders, as messages."""
    writers, readers, problems = {}, [], []
    for command in commands:
        if is_template(command):
            continue
        written, read = work_dirs_of(command)
        key = ' '.join(shlex.split(command))
        for folder in written:
            writers.setdefault(osp.normpath(folder), set()).add(key)
        if read is not None:
            readers.append((osp.normpath(read), key))
    for folder, runs in sorted(writers.items()):
        if len(runs) > 1:
            problems.append(f'{folder} is the work dir of {len(runs)} '
                            f'runs: {sorted(runs)}')
    for folder, command in readers:
        if folder not in writers:
            problems.append(f'{command} reads {folder}, which no command '
                            'shown writes')
    return problems


def test_readme_runs_have_their_own_work_dirs():
    commands = readme_commands('\n'.join(
        open(osp.join(REPO, rel)).read()
        for rel in ('README.md', osp.join('docs', 'demo.md'))))
    # the runs the README shows: the demo, its seed sets and ablations,
    # the variants and the paper config
    runs = [c for c in commands if not is_template(c)
            and work_dirs_of(c)[0]]
    assert len({c for c in runs if 'ablation.py' in c}) >= 2
    assert any(c.startswith('make demo') for c in runs)
    assert any('--merge-only' in c for c in commands)
    assert check_commands(commands) == []


def test_a_collision_and_an_unread_folder_are_found():
    demo = 'python tools/analysis/ablation.py configs/bdl/bdl_demo.py'
    problems = check_commands([
        demo + ' --seeds 0 1 2',
        demo + ' --seeds 0 1 2',  # the same run shown twice: fine
        demo + ' --cfg-options train_cfg.phase_iters.translation=150',
        'make demo',
        'python tools/train.py configs/bdl/bdl_demo.py --cfg-options x=1',
        'python tools/analysis/multi_seed.py configs/bdl/bdl_demo.py '
        '--work-dir work_dirs/elsewhere --merge-only',
        'python tools/train.py configs/bdl/<config>.py [--work-dir DIR]',
    ])
    assert len(problems) == 5, problems
    assert problems[0].startswith('work_dirs/bdl_demo is the work dir of 2')
    assert [p.split()[0] for p in problems[1:4]] == [
        'work_dirs/bdl_demo_ablation', 'work_dirs/bdl_demo_ablation/full',
        'work_dirs/bdl_demo_ablation/no_perceptual']
    assert problems[4].endswith(
        'reads work_dirs/elsewhere, which no command shown writes')
