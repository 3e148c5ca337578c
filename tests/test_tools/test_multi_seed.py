"""tools/analysis/multi_seed.py and ablation.py: merging, refusals, and a
real tiny seed set run through the tool (determinism of the loop)."""
import json
import os
import os.path as osp
import shutil
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools', 'analysis'))

from cli_runner import run_script  # noqa: E402

from seed_sets import configs, merging, runs  # noqa: E402

PHASES = ['k0_source_only', 'k1_adaptation', 'k1_self_training_i1',
          'k2_adaptation', 'k2_self_training_i1']
MODELS = ['M^(0)', 'M_0^(1)(F^(1))', 'M_1^(1)(F^(1))', 'M_0^(2)(F^(2))',
          'M_1^(2)(F^(2))']
CONFIG_TEXT = """default_scope = 'mmbdl'
randomness = dict(seed=0)
model = dict(type='BDL', width={width})
train_cfg = dict(type='BidirectionalTrainLoop', num_rounds={k},
                 num_ssl_rounds=1, source_only=True)
"""


def run_tool(*args, cwd=REPO, check=True):
    """``python ARGS`` in this process (tests/cli_runner.py)."""
    # the seeds' tools/train.py processes inherit one thread each
    return run_script(*args, cwd=str(cwd), check=check,
                      env=dict(OMP_NUM_THREADS='1'))


def fake_run(directory, config, mious, width=8, k=2):
    """A seed dir as a finished (or, with fewer mious, partial) run."""
    os.makedirs(directory, exist_ok=True)
    rows = [dict(phase=p, model=m, mIoU=v, ssl_pixel_ratio=None,
                 per_class=dict(road=2 * v, sky=v / 2))
            for p, m, v in zip(PHASES, MODELS, mious)]
    with open(osp.join(directory, 'bdl_rounds.json'), 'w') as f:
        json.dump(dict(classes=['road', 'sidewalk', 'sky'], rows=rows), f)
    with open(osp.join(directory, osp.basename(config)), 'w') as f:
        f.write(CONFIG_TEXT.format(width=width, k=k))
    with open(osp.join(directory, 'last_checkpoint'), 'w') as f:
        f.write('x.pth')


@pytest.fixture
def config(tmp_path):
    path = tmp_path / 'cfg.py'
    path.write_text(CONFIG_TEXT.format(width=8, k=2))
    return str(path)


def test_config_diff_names_nested_keys():
    a = dict(model=dict(a=1, b=[1, dict(c=2)]), randomness=dict(seed=0),
             work_dir='x')
    b = dict(model=dict(a=1, b=[1, dict(c=3)], d=0), randomness=dict(seed=5),
             work_dir='y')
    assert configs.config_diff(a, b) == ['model.b.1.c', 'model.d']
    assert configs.config_diff(a, a) == []


def test_merge_mean_std_gain_per_class_and_missing():
    tables = {}
    for seed, base in ((0, 10.0), (1, 20.0)):
        rows = [dict(phase=p, model=m, mIoU=base + 10 * i,
                     per_class=dict(road=base), ssl_pixel_ratio=None)
                for i, (p, m) in enumerate(zip(PHASES, MODELS))]
        tables[seed] = dict(classes=['road', 'sky'], rows=rows)
    merged = merging.merge_rounds(tables, missing=[2])
    assert merged['seeds'] == [0, 1] and merged['missing'] == [2]
    first, second = merged['rows'][:2]
    assert first['headline']['mean'] == pytest.approx(15.0)
    # sample std of (10, 20): 7.071
    assert first['headline']['std'] == pytest.approx(7.0710678)
    assert first['gain']['n'] == 0  # no previous row
    assert second['gain']['mean'] == pytest.approx(10.0)
    assert second['gain']['std'] == pytest.approx(0.0)
    assert first['per_class']['road']['values'] == [10.0, 20.0]
    assert 'sky' not in first['per_class']
    text = merging.format_merged(merged)
    assert 'missing (not averaged): 2' in text
    assert '| M^(0) | 15.0 ± 7.1 | 15.0 ± 7.1 | - | - |' in text
    with pytest.raises(RuntimeError, match='no finished seed'):
        merging.merge_rounds({}, missing=[0, 1])


def test_cli_leaves_unfinished_seed_out(config, tmp_path):
    work = tmp_path / 'seeds'
    fake_run(str(work / 'seed_0'), config, [10, 20, 30, 40, 50])
    fake_run(str(work / 'seed_1'), config, [30, 40, 50])  # stopped
    proc = run_tool('tools/analysis/multi_seed.py', config, '--seeds', '0',
                    '1', '2', '--work-dir', str(work), '--merge-only')
    assert 'missing (not averaged): 1, 2' in proc.stdout
    merged = json.loads((work / 'bdl_rounds_seeds.json').read_text())
    assert merged['seeds'] == [0] and merged['missing'] == [1, 2]
    assert merged['rows'][-1]['headline']['mean'] == 50
    assert (work / 'bdl_rounds_seeds.md').read_text().count('| M') == 10


def test_cli_refuses_seed_set_with_other_configs(config, tmp_path):
    work = tmp_path / 'seeds'
    fake_run(str(work / 'seed_0'), config, [10, 20, 30, 40, 50])
    fake_run(str(work / 'seed_1'), config, [10, 20, 30, 40, 50], width=16)
    proc = run_tool('tools/analysis/multi_seed.py', config, '--seeds', '0',
                    '1', '--work-dir', str(work), '--merge-only',
                    check=False)
    assert proc.returncode == 2
    assert 'error:' in proc.stderr and 'model.width' in proc.stderr
    assert not (work / 'bdl_rounds_seeds.json').exists()


def test_merge_only_refuses_seed_dir_of_another_config(config, tmp_path):
    """--merge-only checks every finished seed dir against the requested
    config and options, as a full run does, naming the key and values."""
    work = tmp_path / 'seeds'
    for seed in (0, 1):
        fake_run(str(work / f'seed_{seed}'), config, [10, 20, 30, 40, 50],
                 width=16)
    for options in ([], ['--cfg-options', 'model.width=4']):
        proc = run_tool('tools/analysis/multi_seed.py', config, '--seeds',
                        '0', '1', '--work-dir', str(work), '--merge-only',
                        *options, check=False)
        assert proc.returncode == 2, proc.stderr[-2000:]
        (line, ) = [x for x in proc.stderr.splitlines()
                    if x.startswith('error:')]
        requested = 4 if options else 8
        assert f"seed_0 holds a run of seed 0 with another config (1 keys " \
            f"differ: model.width (requested {requested}, run 16))" in line
        assert not (work / 'bdl_rounds_seeds.json').exists()
        # a full run refuses it the same way, before training anything
        proc = run_tool('tools/analysis/multi_seed.py', config, '--seeds',
                        '0', '1', '--work-dir', str(work), *options,
                        check=False)
        assert proc.returncode == 2
        assert 'model.width (requested' in proc.stderr
    # the options the runs were made with: merged
    proc = run_tool('tools/analysis/multi_seed.py', config, '--seeds', '0',
                    '1', '--work-dir', str(work), '--merge-only',
                    '--cfg-options', 'model.width=16')
    merged = json.loads((work / 'bdl_rounds_seeds.json').read_text())
    assert merged['seeds'] == [0, 1]
    # a finished seed dir without its dumped config cannot be checked
    os.remove(work / 'seed_1' / 'cfg.py')
    proc = run_tool('tools/analysis/multi_seed.py', config, '--seeds', '0',
                    '1', '--work-dir', str(work), '--merge-only',
                    '--cfg-options', 'model.width=16', check=False)
    assert proc.returncode == 2
    assert 'seed_1 holds no cfg.py' in proc.stderr


def test_ablation_merge_only_refuses_a_variant_of_another_config(config,
                                                                 tmp_path):
    work = tmp_path / 'abl'
    fake_run(str(work / 'full' / 'seed_0'), config, [10, 40, 45, 47, 50],
             width=16)
    proc = run_tool('tools/analysis/ablation.py', config, '--seeds', '0',
                    '--work-dir', str(work), '--merge-only', check=False)
    assert proc.returncode == 2
    assert 'model.width (requested 8, run 16)' in proc.stderr
    assert not (work / 'ablation.json').exists()


def fake_ablation(config, work):
    """Two finished seeds of both ablation variants (and the translator
    key the no_perceptual variant's options need in ``config``)."""
    translator = ("model['translator'] = dict(perceptual_loss_cfg=dict("
                  "lambda_per=0.1, lambda_per_recon=10.0))\n")
    for seed, off in ((0, 0.0), (1, 2.0)):
        full = str(work / 'full' / f'seed_{seed}')
        fake_run(full, config,
                 [10 + off, 40 + off, 45 + off, 47 + off, 50 + off])
        with open(osp.join(full, 'cfg.py'), 'a') as f:
            f.write(translator)
        no_per = str(work / 'no_perceptual' / f'seed_{seed}')
        fake_run(no_per, config, [10 + off, 30 + off, 33 + off], k=1)
        # the variant's dumped config carries its overrides
        with open(osp.join(no_per, 'cfg.py'), 'a') as f:
            f.write("train_cfg.update(num_rounds=1, source_only=False)\n"
                    "model['translator'] = dict(perceptual_loss_cfg=dict("
                    "lambda_per=0.0, lambda_per_recon=0.0))\n")
    with open(config, 'a') as f:
        f.write(translator)


def test_ablation_table_and_contributions(config, tmp_path):
    work = tmp_path / 'abl'
    fake_ablation(config, work)
    proc = run_tool('tools/analysis/ablation.py', config, '--seeds', '0',
                    '1', '--work-dir', str(work), '--merge-only')
    table = json.loads((work / 'ablation.json').read_text())
    assert [r['mean'] for r in table['rows']] == [11, 31, 41, 46, 51, 34]
    contrib = {c['name']: c for c in table['contributions']}
    assert contrib['perceptual loss']['values'] == [10.0, 10.0]
    assert contrib['self-training']['mean'] == 5.0
    assert contrib['second round']['mean'] == 5.0
    assert contrib['total over M(0)']['positive'] == 2
    assert contrib['self-training, F without perceptual loss']['mean'] == 3
    assert '| perceptual loss | +10.0 ± 0.0 | 2/2 seeds |' in proc.stdout


def test_ablation_oracle_and_fcn_score_rows(config, tmp_path):
    """--oracle: the oracle's row and the FCN-score of F(1) per variant
    and seed, with the perceptual loss's contribution to it."""
    work = tmp_path / 'abl'
    fake_ablation(config, work)
    oracle_cfg = tmp_path / 'oracle.py'
    oracle_cfg.write_text('model = dict()\n')
    refused = run_tool('tools/analysis/ablation.py', config, '--seeds', '0',
                       '1', '--work-dir', str(work), '--merge-only',
                       '--oracle', str(oracle_cfg), check=False)
    assert refused.returncode == 2
    assert 'no finished oracle' in refused.stderr
    # a finished oracle and the FCN-scores already computed for it
    ckpt = work / 'oracle' / 'iter_600.pth'
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b'')
    # an oracle of other overrides is not taken for this one
    (work / 'oracle' / 'oracle.json').write_text(json.dumps(dict(
        config=str(oracle_cfg), seed=0, cfg_options=['max_iters=4'],
        checkpoint=str(ckpt), metrics=dict(mIoU=52.2))))
    refused = run_tool('tools/analysis/ablation.py', config, '--seeds', '0',
                       '1', '--work-dir', str(work), '--merge-only',
                       '--oracle', str(oracle_cfg), check=False)
    assert refused.returncode == 2
    assert 'holds an oracle of' in refused.stderr
    (work / 'oracle' / 'oracle.json').write_text(json.dumps(dict(
        config=str(oracle_cfg), seed=0, cfg_options=[],
        checkpoint=str(ckpt), metrics=dict(mIoU=52.2))))
    fcn = {('full', 0): (35.0, 7.0), ('full', 1): (30.0, 8.0),
           ('no_perceptual', 0): (31.0, 7.0),
           ('no_perceptual', 1): (32.0, 8.0)}
    for (variant, seed), (translated, identity) in fcn.items():
        out = work / variant / f'seed_{seed}' / \
            'k1_translation_fcn_score.json'
        out.write_text(json.dumps(dict(
            oracle_checkpoint=str(ckpt), translated=dict(mIoU=translated),
            identity=dict(mIoU=identity))))
    proc = run_tool('tools/analysis/ablation.py', config, '--seeds', '0',
                    '1', '--work-dir', str(work), '--merge-only',
                    '--oracle', str(oracle_cfg))
    table = json.loads((work / 'ablation.json').read_text())
    assert table['oracle']['value'] == 52.2
    rows = {r['label']: r for r in table['fcn_score']['rows']}
    assert rows['F(1) with perceptual loss']['values'] == [35.0, 30.0]
    assert rows['F(1) without perceptual loss']['mean'] == 31.5
    assert rows['source, untranslated (identity F)']['mean'] == 7.5
    contribution = table['fcn_score']['contribution']
    assert contribution['values'] == [4.0, -2.0]
    assert contribution['positive'] == 1
    assert '| oracle: M on the target labels (seed 0) | 52.2 |' in \
        proc.stdout
    assert '| perceptual loss (FCN-score of F(1)) | +1.0 ± 4.2 | 1/2 ' \
        'seeds | +4.0 | -2.0 |' in proc.stdout


@pytest.fixture(scope='module')
def tiny_config(tmp_path_factory):
    """A tiny real K=2, N=1 BDL config file (tests/bdl_tiny.py)."""
    from bdl_tiny import real_bdl_cfg, write_bdl_data
    from mmengine.config import Config
    tmp = tmp_path_factory.mktemp('tiny')
    data_root = write_bdl_data(str(tmp / 'data'))
    cfg = real_bdl_cfg(data_root, str(tmp / 'unused'))
    cfg['custom_hooks'] = [h for h in cfg['custom_hooks']
                           if h['type'] != 'EventRecorderHook']
    cfg['default_hooks']['checkpoint']['interval'] = 100
    cfg['train_cfg']['allow_random_init'] = True  # tiny M from scratch
    path = str(tmp / 'tiny_bdl.py')
    Config(cfg).dump(path)
    return path


def test_seed_set_runs_resumes_and_is_deterministic(tiny_config, tmp_path):
    """Same seed -> identical round tables; another seed -> another table;
    a finished seed is kept and a deleted one is run again."""
    work = tmp_path / 'seeds'
    proc = run_tool('tools/analysis/multi_seed.py', tiny_config, '--seeds',
                    '0', '1', '--work-dir', str(work), '--jobs', '2')
    assert 'seed 0: done' in proc.stdout and 'seed 1: done' in proc.stdout
    table = {s: json.loads((work / f'seed_{s}' / 'bdl_rounds.json')
                           .read_text())['rows'] for s in (0, 1)}
    assert len(table[0]) == 5
    merged = json.loads((work / 'bdl_rounds_seeds.json').read_text())
    assert merged['seeds'] == [0, 1] and merged['missing'] == []
    # different seeds: different tables
    assert [r['metrics'] for r in table[0]] != [r['metrics']
                                                for r in table[1]]
    # same seed again (fresh dir): the identical table, every metric
    shutil.rmtree(work / 'seed_1')
    proc = run_tool('tools/analysis/multi_seed.py', tiny_config, '--seeds',
                    '1', '0', '--work-dir', str(work))
    assert 'seed 0: finished, kept' in proc.stdout
    assert 'seed 1: done' in proc.stdout
    again = json.loads((work / 'seed_1' / 'bdl_rounds.json').read_text())
    assert again['rows'] == table[1]


def test_ablation_chain_rows_and_contributions(tmp_path):
    """--then: one row per config (its last phase), the contribution of
    each over the one before and the total over the first."""
    work = tmp_path / 'chain'
    configs = []
    for name, width, k in (('base', 8, 1), ('plus_a', 16, 2),
                           ('plus_b', 32, 2)):
        path = tmp_path / f'{name}.py'
        path.write_text(CONFIG_TEXT.format(width=width, k=k))
        configs.append(str(path))
    runs = dict(base=[[10, 20, 30], [12, 22, 32]],
                plus_a=[[10, 40, 45, 47, 34], [12, 42, 47, 49, 36]],
                plus_b=[[10, 40, 45, 47, 40], [12, 42, 47, 49, 35]])
    for i, (name, per_seed) in enumerate(runs.items()):
        for seed, mious in enumerate(per_seed):
            fake_run(str(work / name / f'seed_{seed}'), configs[i], mious,
                     width=(8, 16, 32)[i], k=(1, 2, 2)[i])
    proc = run_tool('tools/analysis/ablation.py', configs[0], '--then',
                    *configs[1:], '--seeds', '0', '1', '--work-dir',
                    str(work), '--merge-only')
    table = json.loads((work / 'ablation.json').read_text())
    assert [r['phase'] for r in table['rows']] == [
        'k1_self_training_i1', 'k2_self_training_i1', 'k2_self_training_i1']
    assert [r['mean'] for r in table['rows']] == [31, 35, 37.5]
    contrib = {c['name']: c for c in table['contributions']}
    assert contrib['plus_a over base']['values'] == [4.0, 4.0]
    assert contrib['plus_b over plus_a']['values'] == [6.0, -1.0]
    assert contrib['plus_b over plus_a']['positive'] == 1
    assert contrib['total over base']['mean'] == 6.5
    assert '| plus_a over base | +4.0 ± 0.0 | 2/2 seeds |' in proc.stdout


def test_seed_sets_read_the_configs_own_plan():
    """A config with train_cfg.plan (VFM-UDA's) is finished when the
    phases of that plan are, not those of the paper's plan."""
    from mmengine.config import Config
    vfm = osp.join(REPO, 'configs', 'vfm-uda')
    tail = '_dinov2-vitb14_1xb8-40k_gta5-to-cityscapes-1024x1024.py'
    recipe = Config.fromfile(osp.join(vfm, 'vfm-uda' + tail))
    assert configs.segmentation_phases(recipe) == ['k1_uda']
    offline = Config.fromfile(osp.join(vfm, 'bdl-vfm-uda-offline' + tail))
    assert configs.segmentation_phases(offline) == [
        'k0_uda', 'k1_adaptation', 'k1_self_training_i1',
        'k1_self_training_i2']


def test_oracle_metrics_are_the_last_validation(tmp_path):
    import ablation

    from mmbdl.utils.errors import RunStateError
    with pytest.raises(RunStateError, match='no validation metrics'):
        ablation.final_val_metrics(str(tmp_path))
    log = tmp_path / '20261207_000000' / 'vis_data' / 'scalars.json'
    log.parent.mkdir(parents=True)
    log.write_text('{"loss": 1.0, "step": 1}\n'
                   '{"mIoU": 40.0, "aAcc": NaN, "step": 300}\n'
                   '{"loss": 0.5, "step": 400}\n'
                   '{"mIoU": 52.2, "step": 600}\n')
    assert ablation.final_val_metrics(str(tmp_path))['mIoU'] == 52.2


def test_run_logged_writes_the_log_and_names_it_on_failure(tmp_path,
                                                           monkeypatch):
    from mmbdl.utils.errors import RunStateError
    monkeypatch.delenv('OMP_NUM_THREADS', raising=False)
    log = tmp_path / 'run.log'
    script = ('import os, sys; '
              'print("threads", os.environ["OMP_NUM_THREADS"]); '
              'sys.exit(int(sys.argv[1]))')
    runs.run_logged([sys.executable, '-c', script, '0'], str(log), 'the run')
    assert log.read_text() == 'threads 1\n'
    # 'a' appends; a failure names the run, its status and its log
    with pytest.raises(RunStateError) as error:
        runs.run_logged([sys.executable, '-c', script, '3'], str(log),
                        'the second run', mode='a')
    assert str(error.value) == (
        f'the second run failed (exit 3); see {log}')
    assert log.read_text() == 'threads 1\nthreads 1\n'
