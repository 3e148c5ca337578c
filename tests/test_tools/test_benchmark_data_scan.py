"""tools/analysis/benchmark_data_scan.py: per-file times of the data scan's
check on the rehearsal's synthetic sets, and the projection."""
import importlib.util
import os.path as osp
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ANALYSIS = osp.join(REPO, 'tools', 'analysis')
SMALL = dict(gta5=(64, 32), synthia=(64, 38), cityscapes=(64, 32))


@pytest.fixture(scope='module')
def bench():
    sys.path.insert(0, ANALYSIS)
    try:
        spec = importlib.util.spec_from_file_location(
            'benchmark_data_scan', osp.join(ANALYSIS,
                                            'benchmark_data_scan.py'))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(ANALYSIS)
    return module


def test_measures_every_set_and_projects_the_real_counts(bench, tmp_path):
    per_file = bench.measure(str(tmp_path / 'synthetic'), 2, repeats=1,
                             sizes=SMALL)
    assert set(per_file) == set(bench.REAL_COUNTS)
    assert all(t > 0 for t in per_file.values())
    proj = bench.projection(per_file, workers=4)
    cpu = sum(per_file[k] * n for k, n in bench.REAL_COUNTS.items())
    assert proj['cpu_s'] == pytest.approx(cpu)
    assert proj['wall_s_workers'] == pytest.approx(cpu / 4)
    assert bench.REAL_COUNTS == dict(gta5=24966, cityscapes_train=2975,
                                     cityscapes_val=500)


def test_a_file_the_scan_rejects_stops_the_benchmark(bench, tmp_path):
    root = str(tmp_path / 'synthetic')
    bench.measure(root, 1, repeats=1, sizes=SMALL)
    label = osp.join(root, 'gta5', 'labels', '00000.png')
    with open(label, 'r+b') as f:
        f.truncate(20)
    with pytest.raises(RuntimeError, match='00000.png'):
        bench.measure(root, 1, repeats=1, sizes=SMALL)
