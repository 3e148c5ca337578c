r"""Run a BDL config once per seed and merge the round tables (mean ± std).

Each seed runs ``tools/train.py CONFIG --work-dir WORK_DIR/seed_<S>
--cfg-options randomness.seed=<S> ...`` in its own process (``--jobs``
processes at a time). A seed whose run finished (every segmentation phase
of the plan has a row in ``bdl_rounds.json``) is not run again; one that
stopped half-way is resumed (``--resume``); so a killed seed set is resumed
by repeating the command. The merged table is written atomically to
``WORK_DIR/bdl_rounds_seeds.md`` / ``.json``: per row (model) the mean and
the sample standard deviation (n - 1) over the finished seeds of every
per-class IoU, the headline metric, its gain over the previous row and,
where the rows carry it, the best-on-val value; plus every seed's value.

Refused: a seed set whose configs differ in anything but the seed (and the
work dir), naming the differing keys. A seed whose run is missing or did
not finish is reported as missing in the table's header and in the json,
never averaged in.

Examples:
    python tools/analysis/multi_seed.py configs/bdl/bdl_demo.py \
        --seeds 0 1 2 --work-dir work_dirs/bdl_demo_seeds
    # merge what is there without running anything
    python tools/analysis/multi_seed.py configs/bdl/bdl_demo.py \
        --seeds 0 1 2 --work-dir work_dirs/bdl_demo_seeds --merge-only
"""
import argparse
import json
import math
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

from mmbdl.utils.errors import (ConfigCheckError, MissingFileError,  # noqa
                                RunStateError)

# config keys that may differ between the runs of one seed set
SEED_KEYS = ('randomness.seed', 'work_dir', 'launcher', 'resume', 'load_from')
ROUNDS_FILE = 'bdl_rounds.json'
LOG_FILE = 'multi_seed_train.log'


# ----------------------------------------------------------------------
# configs
def flatten(value, prefix: str = '') -> Dict[str, object]:
    """Flatten nested dicts (and lists) into ``{'a.b.0.c': leaf}``.

    Args:
        value: A config value.
        prefix (str): Key prefix. Defaults to ''.

    Returns:
        dict: Dotted key -> leaf value.
    """
    out = {}
    if isinstance(value, dict):
        if not value and prefix:
            out[prefix] = {}
        for key, sub in value.items():
            out.update(flatten(sub, f'{prefix}.{key}' if prefix else key))
    elif isinstance(value, (list, tuple)):
        if not value and prefix:
            out[prefix] = []
        for index, sub in enumerate(value):
            out.update(flatten(sub, f'{prefix}.{index}'))
    else:
        out[prefix] = value
    return out


def config_diff(a: dict, b: dict,
                ignore: Sequence[str] = SEED_KEYS) -> List[str]:
    """Dotted keys whose values differ between two config dicts.

    Args:
        a (dict): One config (``Config.to_dict()``).
        b (dict): The other.
        ignore (Sequence[str]): Keys (and their sub-keys) not compared.
            Defaults to :data:`SEED_KEYS`.

    Returns:
        list[str]: Sorted differing keys (present in one only, or unequal).
    """
    fa, fb = flatten(a), flatten(b)

    def ignored(key):
        return any(key == k or key.startswith(k + '.') for k in ignore)

    keys = (set(fa) | set(fb))
    return sorted(k for k in keys if not ignored(k) and (
        k not in fa or k not in fb or fa[k] != fb[k]))


def load_run_config(config: str, seed: int,
                    cfg_options: Optional[dict]) -> dict:
    """The config of one seed's run as a plain dict."""
    from mmbdl.utils import load_config
    options = dict(cfg_options or {})
    options['randomness.seed'] = seed
    return load_config(config, options).to_dict()


def dumped_config(seed_dir: str, config: str) -> Optional[dict]:
    """The config a seed's run wrote into its work dir, if any."""
    path = osp.join(seed_dir, osp.basename(config))
    if not osp.isfile(path):
        return None
    from mmengine.config import Config
    return Config.fromfile(path).to_dict()


def segmentation_phases(cfg: dict) -> List[str]:
    """Names of the segmentation phases a config plans, in order."""
    from mmbdl.engine.runner import plan_phases
    train_cfg = cfg.get('train_cfg') or {}
    kinds = ('source_only', 'translation', 'adaptation', 'self_training')
    phases = plan_phases(
        int(train_cfg.get('num_rounds', 2)),
        int(train_cfg.get('num_ssl_rounds', 2)),
        bool(train_cfg.get('source_only', True)), {k: 1 for k in kinds})
    return [p.name for p in phases if p.is_segmentation]


# ----------------------------------------------------------------------
# seed runs
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


def parse_options(cfg_options: Sequence[str]) -> dict:
    """``['a.b=1', ...]`` -> ``{'a.b': 1, ...}`` as ``--cfg-options``."""
    if not cfg_options:
        return {}
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction)
    return parser.parse_args(['--o'] + list(cfg_options)).o


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


def check_same_configs(configs: Dict[int, dict]) -> None:
    """Refuse a seed set whose configs differ other than in the seed.

    Args:
        configs (dict[int, dict]): Config per seed.

    Raises:
        ConfigCheckError: Naming the seeds and the differing keys.
    """
    seeds = sorted(configs)
    for seed in seeds[1:]:
        diff = config_diff(configs[seeds[0]], configs[seed])
        if diff:
            shown = ', '.join(diff[:8]) + (' ...' if len(diff) > 8 else '')
            raise ConfigCheckError(
                f'the runs of seed {seeds[0]} and seed {seed} have different '
                f'configs ({len(diff)} keys differ: {shown}); a seed set must '
                'differ in the seed only: use another --work-dir for the new '
                'settings, or delete the seed dirs that were run with the '
                'old ones')


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
                raise ConfigCheckError(f'per-seed option {key} may not differ '
                                 f'between seeds (only {SEED_KEYS})')
        return list(cfg_options) + extra

    wanted = {s: load_run_config(config, s, parse_options(own(s)))
              for s in seeds}
    check_same_configs(wanted)
    phases = segmentation_phases(wanted[seeds[0]])
    todo = []
    for seed in seeds:
        directory = seed_dir(work_dir, seed)
        status = seed_status(directory, phases)
        previous = dumped_config(directory, config)
        if previous is not None:
            diff = config_diff(wanted[seed], previous)
            if diff:
                raise ConfigCheckError(
                    f'{directory} holds a run of seed {seed} with another '
                    f'config ({len(diff)} keys differ: '
                    f'{", ".join(diff[:8])}); use another --work-dir or '
                    'delete that seed dir')
        if status == 'finished':
            log(f'[multi_seed] seed {seed}: finished, kept ({directory})')
            continue
        todo.append((seed, directory, status == 'partial'))
    env = dict(os.environ)
    env.setdefault('OMP_NUM_THREADS', '1')
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


# ----------------------------------------------------------------------
# merging
def mean_std(values: Sequence[float]) -> Dict[str, Optional[float]]:
    """Mean and sample standard deviation (n - 1; 0 for one value)."""
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return dict(mean=None, std=None, n=0)
    mean = sum(values) / len(values)
    var = sum((v - mean)**2 for v in values) / max(1, len(values) - 1)
    return dict(mean=mean, std=math.sqrt(var), n=len(values))


def headline(row: dict) -> Optional[float]:
    """The row's headline value (the rule of its table), else its mIoU."""
    value = row.get('headline')
    return row.get('mIoU') if value is None else value


def merge_rounds(tables: Dict[int, dict], missing: Sequence[int] = (),
                 phases: Optional[Sequence[str]] = None) -> dict:
    """Merge per-seed round tables into mean ± std per row and class.

    Args:
        tables (dict[int, dict]): ``bdl_rounds.json`` content per finished
            seed.
        missing (Sequence[int]): Seeds left out (reported). Defaults to ().
        phases (Sequence[str], optional): Row order. Defaults to the first
            table's.

    Returns:
        dict: ``seeds``, ``missing``, ``classes``, ``rows`` (per phase:
        ``model``, ``headline`` / ``mIoU`` / ``gain`` / ``best`` /
        ``ssl_pixel_ratio`` / ``per_class[c]`` as ``{mean, std, n,
        values}``) and the tables' selection rule / metric.
    """
    if not tables:
        raise RunStateError('no finished seed run to merge (missing seeds: '
                         f'{list(missing)}); run them first')
    seeds = sorted(tables)
    first = tables[seeds[0]]
    phases = list(phases or [r['phase'] for r in first['rows']])
    classes = list(first.get('classes', []))
    by_seed = {s: {r['phase']: r for r in tables[s]['rows']} for s in seeds}

    def stat(values):
        out = mean_std(values)
        out['values'] = [None if v is None else round(v, 4) for v in values]
        return out

    rows = []
    previous = {s: None for s in seeds}
    for phase in phases:
        seed_rows = [by_seed[s][phase] for s in seeds]
        gains = []
        for s, row in zip(seeds, seed_rows):
            value = headline(row)
            gains.append(None if value is None or previous[s] is None else
                         value - previous[s])
            if value is not None:
                previous[s] = value
        per_class = {}
        for name in classes:
            values = [(r.get('per_class') or {}).get(name)
                      for r in seed_rows]
            if any(v is not None for v in values):
                per_class[name] = stat(values)
        best = [(r.get('best') or {}).get('value') for r in seed_rows]
        ratio = [r.get('ssl_pixel_ratio') for r in seed_rows]
        rows.append(dict(
            phase=phase,
            model=seed_rows[0]['model'],
            headline=stat([headline(r) for r in seed_rows]),
            mIoU=stat([r.get('mIoU') for r in seed_rows]),
            gain=stat(gains),
            best=stat(best) if any(v is not None for v in best) else None,
            best_iter=[(r.get('best') or {}).get('iter') for r in seed_rows],
            ssl_pixel_ratio=stat(ratio)
            if any(v is not None for v in ratio) else None,
            per_class=per_class))
    return dict(seeds=seeds, missing=sorted(missing), classes=classes,
                selection=first.get('selection', 'last'),
                report_metric=first.get('report_metric', 'mIoU'), rows=rows)


def _pm(stat: Optional[dict], signed: bool = False, scale: float = 1.0,
        suffix: str = '') -> str:
    if not stat or stat.get('mean') is None:
        return '-'
    fmt = '{:+.1f}' if signed else '{:.1f}'
    text = fmt.format(scale * stat['mean'])
    if stat['n'] > 1:
        text += ' ± {:.1f}'.format(scale * stat['std'])
    return text + suffix


def format_merged(merged: dict, title: str = '') -> str:
    """Markdown of a merged seed set: a mean ± std table and per-seed rows.

    Args:
        merged (dict): Output of :func:`merge_rounds`.
        title (str): First line (e.g. the command). Defaults to ''.

    Returns:
        str: The Markdown text.
    """
    seeds, missing = merged['seeds'], merged['missing']
    rule = 'best-on-val' if merged['selection'] == 'best' else \
        'last iteration'
    metric = merged['report_metric']
    lines = [title] if title else []
    lines.append(
        f'{len(seeds)} seeds ({", ".join(map(str, seeds))}), mean ± sample '
        f'std; missing (not averaged): '
        f'{", ".join(map(str, missing)) if missing else "none"}; headline '
        f'column: {metric} at the {rule} of each phase.')
    lines.append('')
    names = [c for c in merged['classes']
             if any(c in r['per_class'] for r in merged['rows'])]
    has_best = any(r['best'] for r in merged['rows'])
    header = ['model'] + names + [metric, 'gain']
    if has_best:
        header.append(f'best-on-val {metric}')
    header.append('SSL pixel ratio')
    lines += ['| ' + ' | '.join(header) + ' |',
              '|' + '|'.join([' --- '] * len(header)) + '|']
    for row in merged['rows']:
        cells = [row['model']] + [_pm(row['per_class'].get(c))
                                  for c in names]
        cells += [_pm(row['headline']), _pm(row['gain'], signed=True)]
        if has_best:
            cells.append(_pm(row['best']))
        cells.append(_pm(row['ssl_pixel_ratio'], scale=100, suffix='%'))
        lines.append('| ' + ' | '.join(cells) + ' |')
    lines += ['', f'{metric} per seed:', '',
              '| model | ' + ' | '.join(f'seed {s}' for s in seeds) + ' |',
              '|' + '|'.join([' --- '] * (len(seeds) + 1)) + '|']
    for row in merged['rows']:
        values = row['headline']['values']
        lines.append('| ' + row['model'] + ' | ' + ' | '.join(
            '-' if v is None else f'{v:.1f}' for v in values) + ' |')
    return '\n'.join(lines) + '\n'


def collect(config: str, work_dir: str, seeds: Sequence[int],
            cfg_options: Sequence[str] = ()) -> dict:
    """Read the finished seeds' tables and merge them.

    Args:
        config (str): Config path (its plan tells which rows a finished run
            has; its dumped copies are compared).
        work_dir (str): Folder of the seed set.
        seeds (Sequence[int]): Seeds.
        cfg_options (Sequence[str]): ``key=value`` overrides. Defaults
            to ().

    Returns:
        dict: :func:`merge_rounds` output.
    """
    phases = segmentation_phases(
        load_run_config(config, seeds[0], parse_options(cfg_options)))
    tables, configs, missing = {}, {}, []
    for seed in seeds:
        directory = seed_dir(work_dir, seed)
        if seed_status(directory, phases) != 'finished':
            missing.append(seed)
            continue
        tables[seed] = read_rounds(osp.join(directory, ROUNDS_FILE))
        dumped = dumped_config(directory, config)
        if dumped is not None:
            configs[seed] = dumped
    check_same_configs(configs)
    return merge_rounds(tables, missing, phases)


def write_atomic(path: str, text: str) -> None:
    """Write a file through a temporary file and a rename."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp.{os.getpid()}'
    with open(tmp, 'w') as f:
        f.write(text)
    os.replace(tmp, path)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--work-dir', help='folder of the seed set (default '
                        'work_dirs/<config name>_seeds)')
    parser.add_argument('--jobs', type=int, default=1,
                        help='seeds trained at the same time (default 1)')
    parser.add_argument('--merge-only', action='store_true',
                        help='do not train; merge the finished seeds')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='overrides for every seed (key=value, as '
                        'tools/train.py takes them)')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if len(set(args.seeds)) != len(args.seeds):
        raise ConfigCheckError(f'--seeds {args.seeds} repeats a seed')
    config = args.config
    if not osp.isfile(config):
        raise MissingFileError(f'config file {config} does not exist')
    work_dir = args.work_dir or osp.join(
        'work_dirs', osp.splitext(osp.basename(config))[0] + '_seeds')
    options = list(args.cfg_options)
    start = time.time()
    times = {}
    if not args.merge_only:
        times = run_seeds(config, work_dir, args.seeds, options, args.jobs)
    merged = collect(config, work_dir, args.seeds, options)
    merged['train_seconds'] = {str(k): v for k, v in times.items()}
    merged['seconds'] = round(time.time() - start, 1)
    command = 'python tools/analysis/multi_seed.py ' + ' '.join(
        sys.argv[1:] if argv is None else argv)
    merged['command'] = command
    text = format_merged(merged, f'`{command}`')
    write_atomic(osp.join(work_dir, 'bdl_rounds_seeds.json'),
                 json.dumps(merged, indent=2))
    write_atomic(osp.join(work_dir, 'bdl_rounds_seeds.md'), text)
    print(text)
    if merged['missing']:
        print(f'[multi_seed] missing (not averaged): seeds '
              f'{merged["missing"]}', file=sys.stderr)
    return merged


if __name__ == '__main__':
    from mmbdl.utils import run_cli
    run_cli(main)
