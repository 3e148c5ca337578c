"""tools/slurm_{train,test}.sh hand the right command line to srun."""
import os
import os.path as osp
import subprocess

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def run(script, *args, tmp_path, **env):
    # a fake srun that records its arguments, one per line
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir(exist_ok=True)
    srun = bin_dir / 'srun'
    log = tmp_path / 'srun.log'
    srun.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {log}\n'
                    f'echo "PYTHONPATH=$PYTHONPATH" >> {log}\n')
    srun.chmod(0o755)
    full_env = dict(os.environ, PATH=f'{bin_dir}:{os.environ["PATH"]}',
                    **env)
    proc = subprocess.run(['bash', osp.join(REPO, 'tools', script), *args],
                          env=full_env, capture_output=True, text=True)
    lines = log.read_text().splitlines() if log.exists() else []
    return proc, lines


def test_slurm_train(tmp_path):
    proc, argv = run('slurm_train.sh', 'gpu', 'bdl', 'cfg.py', '--amp',
                     '--work-dir', 'w d', tmp_path=tmp_path, GPUS='16',
                     SRUN_ARGS='--time=10 --mem=0', PYTHON='py')
    assert proc.returncode == 0, proc.stderr
    assert argv[:10] == [
        '-p', 'gpu', '--job-name=bdl', '--gres=gpu:8', '--ntasks=16',
        '--ntasks-per-node=8', '--cpus-per-task=5', '--kill-on-bad-exit=1',
        '--time=10', '--mem=0']
    assert argv[10:18] == ['py', '-u', osp.join(REPO, 'tools', 'train.py'),
                           'cfg.py', '--launcher', 'slurm', '--amp',
                           '--work-dir']
    assert argv[18] == 'w d'  # arguments with spaces survive
    assert argv[-1].startswith(f'PYTHONPATH={REPO}/tools/..')


def test_slurm_test_defaults(tmp_path):
    proc, argv = run('slurm_test.sh', 'p', 'j', 'cfg.py', 'm.pth', '--tta',
                     tmp_path=tmp_path, GPUS='2', PYTHON='py')
    assert proc.returncode == 0, proc.stderr
    assert '--gres=gpu:2' in argv and '--ntasks=2' in argv
    assert argv[argv.index('py'):-1] == [
        'py', '-u', osp.join(REPO, 'tools', 'test.py'), 'cfg.py', 'm.pth',
        '--launcher', 'slurm', '--tta']


def test_usage_errors(tmp_path):
    proc, argv = run('slurm_test.sh', 'p', 'j', 'cfg.py', tmp_path=tmp_path)
    assert proc.returncode == 2 and 'usage:' in proc.stderr and not argv
    proc, argv = run('slurm_train.sh', 'p', tmp_path=tmp_path)
    assert proc.returncode == 2 and 'usage:' in proc.stderr and not argv
