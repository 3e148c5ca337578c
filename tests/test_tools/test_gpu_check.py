"""tools/analysis/gpu_check.sh in its CPU dry-run mode: every step runs
(environment, mmcv ops, one iteration of each phase kind under 1-process
gloo DDP, throughput, the rehearsal's --plan-only) and one table is
printed and written."""
import json
import os
import os.path as osp
import subprocess

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_dry_run_prints_one_table(tmp_path):
    out = tmp_path / 'gpu_check'
    proc = subprocess.run(
        ['bash', osp.join(REPO, 'tools', 'analysis', 'gpu_check.sh'),
         '--dry-run', '--out', str(out)],
        capture_output=True, text=True, cwd=REPO,
        env=dict(os.environ, OMP_NUM_THREADS='1'), timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = (out / 'gpu_check.md').read_text()
    for check in ('env', 'mmcv-ops', 'ddp-fp32', 'amp', 'throughput',
                  'plan'):
        assert f'| {check} |' in table, check
    for kind in ('source_only', 'translation', 'adaptation',
                 'self_training'):
        assert f'| {kind} |' in table, kind
    assert table in proc.stdout
    result = json.loads((out / 'gpu_check.json').read_text())
    assert set(result['runs']['fp32']) == {
        'source_only', 'translation', 'adaptation', 'self_training'}
    gpu = json.loads((out / 'gpu.json').read_text())
    assert gpu['tflops'] > 0 and set(gpu['step_seconds']) == set(
        result['runs']['fp32'])


def test_unknown_argument_is_refused():
    proc = subprocess.run(
        ['bash', osp.join(REPO, 'tools', 'analysis', 'gpu_check.sh'),
         '--bogus'], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert proc.stderr.startswith('error: unknown argument --bogus')
