"""Merging the round tables of a seed set into mean ± std per row."""
import math
import os.path as osp
from typing import Dict, Optional, Sequence

from mmbdl.utils.atomic_write import atomic_open
from mmbdl.utils.errors import RunStateError
from .configs import (check_seed_dir, load_run_config, parse_options,
                      segmentation_phases)
from .runs import ROUNDS_FILE, read_rounds, seed_dir, seed_status


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


def pm(stat: Optional[dict], signed: bool = False, scale: float = 1.0,
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
        cells = [row['model']] + [pm(row['per_class'].get(c))
                                  for c in names]
        cells += [pm(row['headline']), pm(row['gain'], signed=True)]
        if has_best:
            cells.append(pm(row['best']))
        cells.append(pm(row['ssl_pixel_ratio'], scale=100, suffix='%'))
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
            has; every finished seed's dumped copy must equal it with
            ``cfg_options``, see :func:`~.configs.check_seed_dir`).
        work_dir (str): Folder of the seed set.
        seeds (Sequence[int]): Seeds.
        cfg_options (Sequence[str]): ``key=value`` overrides. Defaults
            to ().

    Returns:
        dict: :func:`merge_rounds` output.

    Raises:
        ConfigCheckError: A finished seed was run with another config.
    """
    options = parse_options(cfg_options)
    phases = segmentation_phases(load_run_config(config, seeds[0], options))
    tables, missing = {}, []
    for seed in seeds:
        directory = seed_dir(work_dir, seed)
        if seed_status(directory, phases) != 'finished':
            missing.append(seed)
            continue
        # as before training: the run must be of the requested config and
        # options (a --merge-only call trains nothing, so this is its check)
        check_seed_dir(load_run_config(config, seed, options), directory,
                       seed, config, required=True)
        tables[seed] = read_rounds(osp.join(directory, ROUNDS_FILE))
    return merge_rounds(tables, missing, phases)


def write_atomic(path: str, text: str) -> None:
    """Write a file through a temporary file and a rename."""
    with atomic_open(path, 'w') as f:
        f.write(text)
