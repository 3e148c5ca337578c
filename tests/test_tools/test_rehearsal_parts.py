"""The rehearsal tool's parts: synthetic data in the real encodings, the
interrupted-write rule, the config rewrite, the projection and the memory
check; the estimate-first refusal through the entry point."""
import glob
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools', 'analysis'))

from cli_runner import run_tool  # noqa: E402

from rehearsal import config_setup, planning, projection, report  # noqa: E402
from rehearsal.synthetic_data import (REAL_COUNTS, SIZES,  # noqa: E402
                                      estimate_bytes, write_synthetic_sets)

TINY = dict(gta5=(48, 26), synthia=(32, 19), cityscapes=(64, 32))
PAPER = ('configs/bdl/'
         'bdl_deeplabv2-r101_1xb1-k2n2_gta5-to-cityscapes-1024x512.py')


def test_real_sizes_and_counts():
    assert SIZES == dict(gta5=(1914, 1052), synthia=(1280, 760),
                         cityscapes=(2048, 1024))
    assert REAL_COUNTS == dict(gta5=24966, synthia=9400,
                               cityscapes_train=2975, cityscapes_val=500)


def test_gta5_and_cityscapes_layout_and_encodings(tmp_path):
    root = str(tmp_path / 'data')
    summary = write_synthetic_sets(root, 'gta5', 2, sizes=TINY)
    assert summary['reused'] is False
    label = Image.open(osp.join(root, 'gta5', 'labels', '00001.png'))
    assert label.mode == 'P' and label.size == TINY['gta5']
    ids = np.array(label)
    assert set(np.unique(ids)) <= set(range(34)) and len(np.unique(ids)) > 2
    train_ids = np.array(Image.open(osp.join(
        root, 'gta5', 'labels', '00001_labelTrainIds.png')))
    assert train_ids.max() <= 255 and (train_ids < 19).any()
    img = cv2.imread(osp.join(root, 'gta5', 'images', '00000.png'))
    assert img.shape == (26, 48, 3)
    city = osp.join(root, 'cityscapes', 'leftImg8bit', 'val', 'frankfurt')
    names = sorted(os.listdir(city))
    assert len(names) == 2 and names[0].endswith('_leftImg8bit.png')
    gt = osp.join(root, 'cityscapes', 'gtFine', 'val', 'frankfurt',
                  names[0].replace('leftImg8bit', 'gtFine_labelIds'))
    assert Image.open(gt).mode == 'L'
    assert osp.isfile(gt.replace('labelIds', 'labelTrainIds'))
    # complete sets are reused; other settings are rewritten
    assert write_synthetic_sets(root, 'gta5', 2, sizes=TINY)['reused']
    assert not write_synthetic_sets(root, 'gta5', 1, sizes=TINY)['reused']


def test_synthia_labels_are_16bit_with_the_class_in_the_last_channel(
        tmp_path):
    root = str(tmp_path / 'data')
    write_synthetic_sets(root, 'synthia', 1, sizes=TINY)
    gt = cv2.imread(osp.join(root, 'synthia', 'GT', 'LABELS', '0000000.png'),
                    cv2.IMREAD_UNCHANGED)
    assert gt.dtype == np.uint16 and gt.shape == (19, 32, 3)
    assert set(np.unique(gt[..., -1])) <= set(range(23))
    assert (gt[..., 0] == 0).all()


def test_interrupted_write_is_never_trusted(tmp_path, monkeypatch):
    from rehearsal import synthetic_data
    root = str(tmp_path / 'data')

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(synthetic_data, 'convert_cityscapes', killed)
    with pytest.raises(KeyboardInterrupt):
        write_synthetic_sets(root, 'gta5', 1, sizes=TINY)
    assert not osp.exists(root)  # only root.partial, never the final name
    assert osp.isdir(root + '.partial')
    monkeypatch.undo()
    summary = write_synthetic_sets(root, 'gta5', 1, sizes=TINY)
    assert not summary['reused'] and not osp.exists(root + '.partial')
    assert osp.isfile(osp.join(root, '.complete'))


def test_estimate_bounds_the_written_size(tmp_path):
    root = str(tmp_path / 'data')
    summary = write_synthetic_sets(root, 'gta5', 2, sizes=TINY)
    assert summary['bytes'] > 0
    # at the real sizes the bound is the raw size
    assert estimate_bytes('gta5', 1) == 1914 * 1052 * 5 + 2 * 2048 * 1024 * 5


def test_config_rewrite_keeps_models_and_sizes(tmp_path):
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, PAPER))

    class Args:
        iters, rounds, ssl_rounds, workers = 2, 1, 1, 1
        allow_random_init = True

    new = config_setup.rehearsal_config(cfg, Args, '/syn', str(tmp_path))
    assert config_setup.source_dataset(cfg) == 'gta5'
    tc = new.train_cfg
    assert (tc.num_rounds, tc.num_ssl_rounds) == (1, 1)
    assert set(tc.phase_iters.values()) == {2}
    assert tc.allow_random_init is True
    text = new.pretty_text
    assert "data_root='data" not in text and "img_dir='data" not in text
    assert "data_root='/syn/gta5'" in text
    assert 'Pretrained' not in str(new.model.to_dict())
    # real models and sizes unchanged
    assert new.model.segmentor.segmentor.backbone.depth == 101
    assert new.model.translator.generator.num_blocks == 9
    assert (1280, 720) in [tuple(t.get('scale', ())) for t in
                           new.train_dataloader.dataset.source.pipeline]
    assert cfg.train_cfg.num_rounds == 2  # the input is not changed


def test_projection_scales_measured_steps_to_the_paper_plan():
    train_cfg = dict(num_rounds=2, num_ssl_rounds=2, source_only=True,
                     phase_iters=dict(source_only=10, translation=20,
                                      adaptation=10, self_training=30))
    kinds = {k: dict(step_seconds=2.0, flops_per_step=4e9)
             for k in ('source_only', 'translation', 'adaptation',
                       'self_training')}
    jobs = dict(translation=dict(seconds_per_image=0.5,
                                 flops_per_image=1e9),
                pseudo_label=None, val=None)
    proj = projection.project(train_cfg, 'gta5', kinds, jobs,
                              cpu_flops=1e9, gpu=dict(tflops=1.0))
    iters = 10 + 2 * (20 + 10 + 2 * 30)
    train = [r for r in proj['rows'] if r['item'].startswith('train')]
    assert sum(r['cpu_seconds'] for r in train) == 2.0 * iters
    assert sum(r['gpu_seconds'] for r in train) == pytest.approx(
        4e9 / 1e12 * iters)
    s_prime = [r for r in proj['rows'] if r['item'].startswith("S'")][0]
    assert s_prime['count'] == 2 * 24966
    assert s_prime['cpu_seconds'] == 0.5 * 2 * 24966
    assert len(proj['unmeasured']) == 2 and 'ASSUMPTION' not in \
        proj['gpu_note']
    assumed = projection.project(train_cfg, 'gta5', kinds, jobs, 1e9)
    assert assumed['gpu_note'].startswith('ASSUMPTION')


def test_dataset_builds_cost_a_fixed_part_one_read_then_stats(tmp_path):
    """A phase start = fixed overhead + one header read of every real file
    at the first phase, only the fingerprint's stats at the others."""
    from rehearsal import planning
    write_synthetic_sets(str(tmp_path / 'data'), 'gta5', 2, sizes=TINY)
    checks = planning.measure_check_costs(str(tmp_path / 'data'))
    pngs = glob.glob(str(tmp_path / 'data' / '**' / '*.png'), recursive=True)
    assert checks['files'] == len(pngs) > 0
    assert checks['uncached'] > checks['cached'] > 0
    phases = [dict(dataset_build_seconds=s) for s in (3.0, 1.0, 1.0)]
    data = dict(check_seconds_per_file=dict(uncached=2e-4, cached=3e-6,
                                            files=10))
    build = report._jobs(phases, data)['dataset_build']
    assert build == dict(overhead_seconds=1.0, first_seconds_per_file=2e-4,
                         cached_seconds_per_file=3e-6)
    train_cfg = dict(num_rounds=1, num_ssl_rounds=1, source_only=True,
                     phase_iters=dict(source_only=1, translation=1,
                                      adaptation=1, self_training=1))
    proj = projection.project(train_cfg, 'gta5', {}, dict(dataset_build=build),
                              cpu_flops=1e9)
    (row, ) = [r for r in proj['rows'] if r['item'].startswith('data-set')]
    files = 2 * 24966 + 2 * 2975
    assert row['cpu_seconds'] == pytest.approx(
        4 * 1.0 + files * 2e-4 + 3 * files * 3e-6)


def test_memory_check_allows_10_percent_at_most_1_gb():
    check = report._memory_check
    assert check(dict(rss_before=4e9, rss_after=4.3e9))['ok']
    assert not check(dict(rss_before=4e9, rss_after=4.5e9))['ok']
    assert not check(dict(rss_before=20e9, rss_after=21.2e9))['ok']
    assert check(dict(rss_before=20e9, rss_after=19e9))['ok']


def test_refuses_before_writing_when_the_disk_is_too_small(tmp_path):
    work = tmp_path / 'work'
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'analysis', 'rehearse.py'),
         osp.join(REPO, PAPER), '--work-dir', str(work), '--images',
         '100000000', '--allow-random-init'],
        capture_output=True, text=True, cwd=REPO,
        env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 2, proc.stderr[-2000:]
    line = [ln for ln in proc.stderr.splitlines()
            if ln.startswith('error:')][0]
    assert 'GB of disk' in line and 'free' in line
    assert not work.exists()  # nothing written


def test_disk_refusal_comes_before_the_memory_probe(tmp_path, monkeypatch):
    def probe(*args, **kwargs):
        raise AssertionError('the memory model ran before the disk check')

    monkeypatch.setattr(planning, 'estimate_memory_needs', probe)
    monkeypatch.setattr(planning, 'measure_device', probe)
    work = tmp_path / 'work'
    result = run_tool('tools/analysis/rehearse.py',
                      [PAPER, '--work-dir', work, '--images', '100000000',
                       '--allow-random-init'])
    assert result.returncode == 2, result.stderr[-2000:]
    line = [ln for ln in result.stderr.splitlines()
            if ln.startswith('error:')]
    assert len(line) == 1 and 'GB of disk' in line[0], result.stderr
    assert not work.exists()


@pytest.mark.parametrize('case', ['gpu_json', 'report_only', 'no_config',
                                  'source'])
def test_argument_refusals_come_before_any_model(case, tmp_path,
                                                 monkeypatch):
    """A missing or broken --gpu-json (read only at the report before),
    --report-only without records, a missing config and a config of
    another source are one-line refusals; nothing is built or measured."""
    def expensive(*args, **kwargs):
        raise AssertionError('a model was built before the refusal')

    for name in ('estimate_disk_needs', 'estimate_memory_needs',
                 'measure_device', 'estimate_kind_flops'):
        monkeypatch.setattr(planning, name, expensive)
    work = tmp_path / 'work'
    config, extra, expected = PAPER, [], ''
    if case == 'gpu_json':
        broken = tmp_path / 'gpu.json'
        broken.write_text('{"projection_input": ')
        extra = ['--gpu-json', broken]
        expected = 'error: cannot read the --gpu-json file: '
    elif case == 'report_only':
        extra = ['--report-only']
        expected = ('error: --report-only: no records of an earlier run in '
                    f'the work dir ({work / "rehearsal_raw.json"} does not '
                    'exist)')
    elif case == 'no_config':
        config = str(tmp_path / 'missing.py')
        expected = f'error: no config file {config}'
    else:
        config = 'configs/bdl/bdl_demo.py'
        expected = 'error: cannot tell the source data set of this config'
    result = run_tool('tools/analysis/rehearse.py',
                      [config, '--work-dir', work, *extra])
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(expected), result.stderr
    assert not work.exists()
