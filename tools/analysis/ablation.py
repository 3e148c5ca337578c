r"""What each part of BDL adds, over several seeds (the paper's ablation).

Runs two variants of a BDL config (K >= 2, N >= 1) with
``multi_seed.py``'s machinery (the ``seed_sets`` package), each seed in
its own process, resumable:

- ``full``: the config as it is (M(0), then K rounds of F, M_0, M_1..N);
- ``no_perceptual``: one round (K=1, N=1; N=0 would leave the config's
  pseudo-label hook without a phase, which the loop refuses) whose
  translator F is trained without the perceptual loss
  (``lambda_per = lambda_per_recon = 0``), starting from the same seed's
  M(0) of the full run (``source_only=False``, ``load_from`` its
  ``k0_source_only.pth``), so the two rows share M(0). It runs after the
  full variant. Its M_1(1) is reported as an extra row.

and reports, as mean ± sample std over the seeds finished in both:

| row | from |
| --- | --- |
| M(0) | full, source-only phase |
| M_0(1), F without perceptual loss | no_perceptual, first adaptation |
| M_0(1), F with perceptual loss | full, first adaptation |
| + self-training: M_N(1) | full, last self-training of round 1 |
| + second round: M_N(2) | full, last self-training of round 2 |

and the contribution of each part (per seed differences of consecutive
rows: perceptual loss, self-training, second round, and the total over
M(0)). Written to ``WORK_DIR/ablation.md`` / ``ablation.json``; the variants'
seed sets are ``WORK_DIR/<variant>/seed_<S>`` with their own
``bdl_rounds_seeds.md``.

With ``--oracle ORACLE_CONFIG`` (the demo's: ``configs/bdl/oracle_demo.py``)
it also trains an oracle once (M trained on the target's own labels, the
upper bound of UDA tables; seed: the first of ``--seeds``;
``WORK_DIR/oracle``, kept when finished) and reports its target val score
next to M(0), and the FCN-score (``fcn_score.py``: the oracle segments
F(S), scored against S's labels) of F(1) with and without the perceptual
loss in every seed, with the oracle's score on the untranslated source as
the reference row and the perceptual loss's contribution to it.

With ``--then CONFIG ...`` it measures a chain instead: configs that each
add one part to the one before (e.g. the VFM-UDA recipe, then BDL's parts
on top of it, ``configs/vfm-uda/``). Every config runs over the seeds as it
is (``WORK_DIR/<config name>/seed_<S>``); the table has one row per config
(the last phase of its round table) and the contribution of each config
over the one before, plus the total over the first.

Examples:
    python tools/analysis/ablation.py configs/bdl/bdl_demo.py \
        --seeds 0 1 2 --work-dir work_dirs/bdl_demo_ablation \
        --oracle configs/bdl/oracle_demo.py
    T=_dinov2-vitb14_1xb8-40k_gta5-to-cityscapes-1024x1024.py
    python tools/analysis/ablation.py configs/vfm-uda/vfm-uda$T \
        --then configs/vfm-uda/bdl-vfm-uda-cyclegan$T \
        configs/vfm-uda/bdl-vfm-uda-perceptual$T \
        configs/vfm-uda/bdl-vfm-uda-adv$T --seeds 0 1 2
"""
import argparse
import glob
import json
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional

# the repository root, for mmbdl (this script's folder, tools/analysis, is
# on sys.path already: the shared code is the seed_sets package)
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

from mmbdl.utils.errors import ConfigCheckError  # noqa: E402
from mmbdl.utils.errors import MissingFileError, RunStateError  # noqa: E402
from seed_sets.configs import default_work_dir  # noqa: E402
from seed_sets.configs import load_run_config, parse_options  # noqa: E402
from seed_sets.merging import (collect, format_merged, mean_std,  # noqa: E402
                               pm, write_atomic)
from seed_sets.runs import run_logged, run_seeds, seed_dir  # noqa: E402

NO_PERCEPTUAL = [
    'train_cfg.num_rounds=1', 'train_cfg.num_ssl_rounds=1',
    'train_cfg.source_only=False',
    'model.translator.perceptual_loss_cfg.lambda_per=0.0',
    'model.translator.perceptual_loss_cfg.lambda_per_recon=0.0'
]
VARIANTS = dict(full=[], no_perceptual=NO_PERCEPTUAL)
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


ORACLE_FILE = 'oracle.json'
# FCN-score rows: (label, variant, key of fcn_score.py's result)
FCN_ROWS = [
    ('F(1) with perceptual loss', 'full', 'translated'),
    ('F(1) without perceptual loss', 'no_perceptual', 'translated'),
    ('source, untranslated (identity F)', 'full', 'identity'),
]


def final_val_metrics(directory: str) -> dict:
    """The last validation metrics an MMEngine run logged (its newest
    ``<timestamp>/vis_data/scalars.json`` line holding ``mIoU``)."""
    logs = sorted(glob.glob(osp.join(directory, '*', 'vis_data',
                                     'scalars.json')))
    for path in reversed(logs):
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        rows = [r for r in rows if 'mIoU' in r]
        if rows:
            return rows[-1]
    raise RunStateError(f'{directory}: no validation metrics logged (no '
                        '*/vis_data/scalars.json with mIoU); the oracle run '
                        'did not finish: delete the folder and run again')


def train_oracle(config: str, work_dir: str, seed: int,
                 cfg_options: List[str], merge_only: bool = False) -> dict:
    """Train the oracle once (kept when finished); its checkpoint and
    final target val metrics.

    Args:
        config (str): The oracle's config (a plain segmentor trained on the
            target labels, e.g. ``configs/bdl/oracle_demo.py``).
        work_dir (str): The ablation's folder (the oracle trains in
            ``<work_dir>/oracle``).
        seed (int): ``randomness.seed`` of the run.
        cfg_options (list[str]): ``key=value`` overrides of the run.
        merge_only (bool): Refuse to train (``--merge-only``).
            Defaults to False.

    Returns:
        dict: ``config``, ``seed``, ``cfg_options``, ``checkpoint`` and
        ``metrics``, also written to ``<work_dir>/oracle/oracle.json``.

    Raises:
        RunStateError: If the folder holds an oracle of another config,
            seed or overrides (it is not reused silently), or the run
            fails.
    """
    directory = osp.join(work_dir, 'oracle')
    marker = osp.join(directory, ORACLE_FILE)
    wanted = dict(config=osp.abspath(config), seed=seed,
                  cfg_options=list(cfg_options))
    if osp.isfile(marker):
        with open(marker) as f:
            done = json.load(f)
        made = {key: done.get(key) for key in wanted}
        if made != wanted:
            raise RunStateError(
                f'{directory} holds an oracle of {made}, not of {wanted}; '
                'delete the folder or use another --work-dir')
        if osp.isfile(done.get('checkpoint', '')):
            print(f'[ablation] oracle: finished, kept ({directory})')
            return done
    if merge_only:
        raise RunStateError(f'no finished oracle of {config} in {directory}'
                            '; run without --merge-only to train it')
    os.makedirs(directory, exist_ok=True)
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'train.py'), config,
           '--work-dir', directory, '--cfg-options',
           f'randomness.seed={seed}'] + list(cfg_options)
    log_file = osp.join(directory, 'train.log')
    print(f'[ablation] oracle: training -> {log_file}')
    run_logged(cmd, log_file, 'the oracle run', mode='a')
    with open(osp.join(directory, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    done = dict(wanted, checkpoint=checkpoint,
                metrics=final_val_metrics(directory))
    write_atomic(marker, json.dumps(done, indent=2))
    return done


def fcn_scores(config: str, work_dir: str, seeds: List[int],
               oracle: dict, cfg_options: List[str]) -> Dict[str, dict]:
    """``fcn_score.py``'s result for F(1) of each variant and seed (kept
    in ``<variant>/seed_<S>/k1_translation_fcn_score.json``; computed by
    running the script when missing)."""
    results: Dict[str, dict] = {}
    for variant in sorted({v for _, v, _ in FCN_ROWS}):
        for seed in seeds:
            ckpt = osp.join(seed_dir(osp.join(work_dir, variant), seed),
                            'k1_translation.pth')
            out = osp.splitext(ckpt)[0] + '_fcn_score.json'
            if osp.isfile(out):
                with open(out) as f:
                    result = json.load(f)
                if result.get('oracle_checkpoint') == osp.abspath(
                        oracle['checkpoint']):
                    results[f'{variant}/{seed}'] = result
                    continue
            cmd = [sys.executable, osp.join(ROOT, 'tools', 'analysis',
                                            'fcn_score.py'),
                   config, ckpt, oracle['checkpoint'], '--oracle-config',
                   oracle['config'], '--out', out]
            if cfg_options:
                cmd += ['--cfg-options'] + list(cfg_options)
            log_file = osp.splitext(out)[0] + '.log'
            print(f'[ablation] FCN-score of {ckpt} -> {log_file}')
            run_logged(cmd, log_file, f'fcn_score.py on {ckpt}')
            with open(out) as f:
                results[f'{variant}/{seed}'] = json.load(f)
    return results


def add_oracle(table: dict, oracle: dict, scores: Dict[str, dict]) -> dict:
    """The oracle row and the FCN-score rows (and the perceptual loss's
    contribution to the FCN-score) of the table."""
    metric = table['report_metric']
    table['oracle'] = dict(
        label=f'oracle: M on the target labels (seed {oracle["seed"]})',
        value=oracle['metrics'].get(metric), checkpoint=oracle['checkpoint'])
    rows = []
    for label, variant, key in FCN_ROWS:
        seq = [scores[f'{variant}/{s}'][key]['mIoU'] for s in table['seeds']]
        stat = mean_std(seq)
        stat['values'] = [round(v, 4) for v in seq]
        rows.append(dict(label=label, variant=variant, key=key, **stat))
    diffs = [a - b for a, b in zip(rows[0]['values'], rows[1]['values'])]
    contribution = mean_std(diffs)
    contribution.update(values=[round(v, 4) for v in diffs],
                        positive=sum(d > 0 for d in diffs),
                        name='perceptual loss (FCN-score of F(1))')
    table['fcn_score'] = dict(rows=rows, contribution=contribution)
    return table


def format_oracle(table: dict) -> str:
    """Markdown of the oracle row and the FCN-score table."""
    seeds = table['seeds']
    oracle = table['oracle']
    value = '-' if oracle['value'] is None else f'{oracle["value"]:.1f}'
    lines = ['', f'| upper bound | {table["report_metric"]} |',
             '| --- | --- |', f'| {oracle["label"]} | {value} |', '',
             'FCN-score (the oracle segments F(S); mIoU against the source '
             'labels):', '',
             '| F | mIoU | ' + ' | '.join(f'seed {s}' for s in seeds) + ' |',
             '|' + '|'.join([' --- '] * (len(seeds) + 2)) + '|']
    fcn = table['fcn_score']
    for row in fcn['rows']:
        lines.append(f'| {row["label"]} | {pm(row)} | ' +
                     ' | '.join(f'{v:.1f}' for v in row['values']) + ' |')
    c = fcn['contribution']
    lines += ['', '| contribution | mean ± std | positive in | ' +
              ' | '.join(f'seed {s}' for s in seeds) + ' |',
              '|' + '|'.join([' --- '] * (len(seeds) + 3)) + '|',
              f'| {c["name"]} | {pm(c, signed=True)} | '
              f'{c["positive"]}/{c["n"]} seeds | ' +
              ' | '.join(f'{v:+.1f}' for v in c['values']) + ' |']
    return '\n'.join(lines) + '\n'


def first_round_budgets(train_cfg: dict) -> List[str]:
    """Options giving a one-round variant the first round's budgets.

    A ``phase_iters`` entry may be a list with one budget per round (e.g.
    ``translation=[400, 150]``); with ``num_rounds=1`` the loop wants a
    list of one, so the variant keeps the first round's value.
    """
    budgets = (train_cfg or {}).get('phase_iters') or {}
    return [f'train_cfg.phase_iters.{kind}={value[0]}'
            for kind, value in budgets.items()
            if isinstance(value, (list, tuple))]


def ablation_rows(num_ssl_rounds: int) -> List[tuple]:
    """``(label, variant, phase)`` of the ablation table, in order."""
    n = num_ssl_rounds
    return [
        ('M(0) (source only)', 'full', 'k0_source_only'),
        ('M_0(1), F without perceptual loss (same M(0))', 'no_perceptual',
         'k1_adaptation'),
        ('M_0(1), F with perceptual loss', 'full', 'k1_adaptation'),
        (f'+ self-training: M_{n}(1)', 'full', f'k1_self_training_i{n}'),
        (f'+ second round: M_{n}(2)', 'full', f'k2_self_training_i{n}'),
        ('(extra) M_1(1), F without perceptual loss', 'no_perceptual',
         'k1_self_training_i1'),
    ]


# contribution name -> (row index of the part, row index it adds to)
CONTRIBUTIONS = [
    ('perceptual loss', 2, 1),
    ('self-training', 3, 2),
    ('second round', 4, 3),
    ('total over M(0)', 4, 0),
    ('self-training, F without perceptual loss', 5, 1),
]


def per_seed(merged: dict, phase: str) -> Dict[int, float]:
    """Headline value per seed of one phase of a merged seed set."""
    for row in merged['rows']:
        if row['phase'] == phase:
            return {s: v for s, v in zip(merged['seeds'],
                                         row['headline']['values'])
                    if v is not None}
    raise KeyError(f'phase {phase} is not in the merged table')


def build_table(merged: Dict[str, dict], num_ssl_rounds: int) -> dict:
    """Ablation rows and contributions from the variants' merged sets.

    Args:
        merged (dict[str, dict]): :func:`seed_sets.merging.merge_rounds`
            output
            per variant.
        num_ssl_rounds (int): N of the full config.

    Returns:
        dict: ``seeds`` (finished in every variant), ``missing``, ``rows``
        and ``contributions`` (``{mean, std, n, values}`` each, values in
        seed order).
    """
    seeds = sorted(set.intersection(*(set(m['seeds'])
                                      for m in merged.values())))
    wanted = sorted(set().union(*(set(m['seeds']) | set(m['missing'])
                                  for m in merged.values())))
    if not seeds:
        raise RunStateError(
            'no seed finished in every variant; run them first')
    rows = []
    for label, variant, phase in ablation_rows(num_ssl_rounds):
        values = per_seed(merged[variant], phase)
        seq = [values[s] for s in seeds]
        stat = mean_std(seq)
        stat['values'] = [round(v, 4) for v in seq]
        rows.append(dict(label=label, variant=variant, phase=phase, **stat))
    contributions = []
    for name, part, base in CONTRIBUTIONS:
        diffs = [a - b for a, b in zip(rows[part]['values'],
                                       rows[base]['values'])]
        stat = mean_std(diffs)
        stat['values'] = [round(v, 4) for v in diffs]
        stat['positive'] = sum(d > 0 for d in diffs)
        contributions.append(dict(name=name, **stat))
    return dict(seeds=seeds, missing=[s for s in wanted if s not in seeds],
                report_metric=merged['full']['report_metric'],
                selection=merged['full']['selection'], rows=rows,
                contributions=contributions)


def chain_names(configs: List[str]) -> List[str]:
    """The work-dir names of a chain's configs (their file names)."""
    names = [osp.splitext(osp.basename(c))[0] for c in configs]
    if len(set(names)) != len(names):
        raise ConfigCheckError(
            f'the chain names a config twice (by file name): {names}; '
            'each --then config must be another file')
    return names


def chain_table(merged: Dict[str, dict], names: List[str]) -> dict:
    """Rows and contributions of a chain (``--then``).

    Args:
        merged (dict[str, dict]): The merged seed set of each config.
        names (list[str]): The configs' names in chain order.

    Returns:
        dict: As :func:`build_table`: one row per config (the last phase
        of its round table), the contribution of each config over the one
        before and, for three or more, the total over the first.
    """
    seeds = sorted(set.intersection(*(set(merged[n]['seeds'])
                                      for n in names)))
    wanted = sorted(set().union(*(set(merged[n]['seeds']) |
                                  set(merged[n]['missing']) for n in names)))
    if not seeds:
        raise RunStateError('no seed finished in every config of the chain; '
                            'run them first')
    rows = []
    for name in names:
        phase = merged[name]['rows'][-1]['phase']
        values = per_seed(merged[name], phase)
        seq = [values[s] for s in seeds]
        stat = mean_std(seq)
        stat['values'] = [round(v, 4) for v in seq]
        rows.append(dict(label=f'{name} ({phase})', variant=name,
                         phase=phase, **stat))
    pairs = [(f'{names[i]} over {names[i - 1]}', i, i - 1)
             for i in range(1, len(names))]
    if len(names) > 2:
        pairs.append((f'total over {names[0]}', len(names) - 1, 0))
    contributions = []
    for label, part, base in pairs:
        diffs = [a - b for a, b in zip(rows[part]['values'],
                                       rows[base]['values'])]
        stat = mean_std(diffs)
        stat['values'] = [round(v, 4) for v in diffs]
        stat['positive'] = sum(d > 0 for d in diffs)
        contributions.append(dict(name=label, **stat))
    first = merged[names[0]]
    return dict(seeds=seeds, missing=[s for s in wanted if s not in seeds],
                report_metric=first['report_metric'],
                selection=first['selection'], rows=rows,
                contributions=contributions)


def format_table(table: dict, title: str = '') -> str:
    """Markdown of :func:`build_table`'s output."""
    seeds = table['seeds']
    metric = table['report_metric']
    rule = 'best-on-val' if table['selection'] == 'best' else \
        'last iteration'
    lines = [title, ''] if title else []
    lines.append(
        f'{len(seeds)} seeds ({", ".join(map(str, seeds))}), {metric} at the '
        f'{rule} of each phase, mean ± sample std; missing (not averaged): '
        f'{", ".join(map(str, table["missing"])) or "none"}.')
    lines += ['', '| model | ' + metric + ' | ' +
              ' | '.join(f'seed {s}' for s in seeds) + ' |',
              '|' + '|'.join([' --- '] * (len(seeds) + 2)) + '|']
    for row in table['rows']:
        lines.append(f'| {row["label"]} | {pm(row)} | ' +
                     ' | '.join(f'{v:.1f}' for v in row['values']) + ' |')
    lines += ['', '| contribution | mean ± std | positive in | ' +
              ' | '.join(f'seed {s}' for s in seeds) + ' |',
              '|' + '|'.join([' --- '] * (len(seeds) + 3)) + '|']
    for c in table['contributions']:
        lines.append(
            f'| {c["name"]} | {pm(c, signed=True)} | '
            f'{c["positive"]}/{c["n"]} seeds | ' +
            ' | '.join(f'{v:+.1f}' for v in c['values']) + ' |')
    return '\n'.join(lines) + '\n'


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', nargs='?', default='configs/bdl/bdl_demo.py',
                        help='BDL config with K >= 2, N >= 1 (default: the '
                        'demo)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--work-dir', help='default work_dirs/<config '
                        'name>_ablation')
    parser.add_argument('--jobs', type=int, default=1,
                        help='runs trained at the same time (default 1)')
    parser.add_argument('--merge-only', action='store_true',
                        help='do not train; report the finished runs')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='overrides for every run (key=value)')
    parser.add_argument('--oracle', metavar='ORACLE_CONFIG',
                        help='also train this oracle (target labels) once '
                        'and report it and the FCN-score of F(1) with and '
                        'without the perceptual loss (the demo: '
                        'configs/bdl/oracle_demo.py)')
    parser.add_argument('--oracle-cfg-options', nargs='+', default=[],
                        help="overrides of the oracle's run (key=value)")
    parser.add_argument('--then', nargs='+', default=[], metavar='CONFIG',
                        help='measure a chain instead of the two BDL '
                        'variants: configs that each add one part to the '
                        'one before, the first being CONFIG')
    return parser.parse_args(argv)


def main(argv=None) -> Optional[dict]:
    args = parse_args(argv)
    if not osp.isfile(args.config):
        raise MissingFileError(f'config file {args.config} does not exist')
    work_dir = args.work_dir or default_work_dir(args.config, '_ablation')
    if args.then and args.oracle:
        raise ConfigCheckError('--oracle reports the two BDL variants; it '
                               'does not apply to a --then chain')
    if args.then:
        return chain_main(args, work_dir, argv)
    cfg = load_run_config(args.config, args.seeds[0],
                          parse_options(args.cfg_options))
    train_cfg = cfg.get('train_cfg') or {}
    num_rounds = int(train_cfg.get('num_rounds', 2))
    num_ssl = int(train_cfg.get('num_ssl_rounds', 2))
    if num_rounds < 2 or num_ssl < 1:
        raise ConfigCheckError(
            f'{args.config}: the ablation needs K >= 2 and N >= 1, the config '
            f'has num_rounds={num_rounds}, num_ssl_rounds={num_ssl}')
    start = time.time()
    merged, times = {}, {}
    for name, extra in VARIANTS.items():
        options = list(args.cfg_options) + extra
        if name == 'no_perceptual':
            options += first_round_budgets(train_cfg)
        sub = osp.join(work_dir, name)
        seed_options = None
        if name == 'no_perceptual':
            seed_options = lambda seed: [  # noqa: E731
                'load_from=' + osp.join(
                    seed_dir(osp.join(work_dir, 'full'), seed),
                    'k0_source_only.pth')]
        if not args.merge_only:
            print(f'[ablation] variant {name}: {" ".join(extra) or "as is"}')
            times[name] = run_seeds(
                args.config, sub, args.seeds, options, args.jobs,
                seed_options=seed_options)
        merged[name] = collect(args.config, sub, args.seeds, options)
        write_atomic(osp.join(sub, 'bdl_rounds_seeds.md'),
                     format_merged(merged[name]))
        write_atomic(osp.join(sub, 'bdl_rounds_seeds.json'),
                     json.dumps(merged[name], indent=2))
    table = build_table(merged, num_ssl)
    if args.oracle:
        if not osp.isfile(args.oracle):
            raise MissingFileError(f'oracle config {args.oracle} does not '
                                   'exist')
        oracle = train_oracle(args.oracle, work_dir, args.seeds[0],
                              args.oracle_cfg_options, args.merge_only)
        add_oracle(table, oracle, fcn_scores(
            args.config, work_dir, table['seeds'], oracle,
            args.cfg_options))
    return write_table(table, times, start, work_dir, argv)


def write_table(table: dict, times: dict, start: float, work_dir: str,
                argv) -> dict:
    """Add the times and the command, write and print the table."""
    table['train_seconds'] = times
    table['seconds'] = round(time.time() - start, 1)
    command = 'python tools/analysis/ablation.py ' + ' '.join(
        sys.argv[1:] if argv is None else argv)
    table['command'] = command
    text = format_table(table, f'`{command}`')
    if 'oracle' in table:
        text += format_oracle(table)
    write_atomic(osp.join(work_dir, 'ablation.json'),
                 json.dumps(table, indent=2))
    write_atomic(osp.join(work_dir, 'ablation.md'), text)
    print(text)
    return table


def chain_main(args, work_dir: str, argv) -> dict:
    """Run (or merge) every config of a chain over the seeds; its table."""
    configs = [args.config] + list(args.then)
    for path in configs[1:]:
        if not osp.isfile(path):
            raise MissingFileError(f'config file {path} does not exist')
    names = chain_names(configs)
    start = time.time()
    merged, times = {}, {}
    for name, config in zip(names, configs):
        sub = osp.join(work_dir, name)
        options = list(args.cfg_options)
        if not args.merge_only:
            print(f'[ablation] chain step {name}')
            times[name] = run_seeds(config, sub, args.seeds, options,
                                    args.jobs)
        merged[name] = collect(config, sub, args.seeds, options)
        write_atomic(osp.join(sub, 'bdl_rounds_seeds.md'),
                     format_merged(merged[name]))
        write_atomic(osp.join(sub, 'bdl_rounds_seeds.json'),
                     json.dumps(merged[name], indent=2))
    return write_table(chain_table(merged, names), times, start, work_dir,
                       argv)


if __name__ == '__main__':
    from mmbdl.utils import run_cli
    run_cli(main)
