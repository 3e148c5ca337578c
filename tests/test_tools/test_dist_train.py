"""tools/dist_train.sh with 2 CPU processes (gloo) keeps ranks in sync."""
import os
import os.path as osp
import subprocess

import torch
from dist_utils import free_port
from tiny_seg import tiny_seg_config, write_tiny_seg_dataset

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_two_process_training_ends_with_identical_weights(tmp_path):
    data_root = write_tiny_seg_dataset(str(tmp_path / 'data'), num_train=4)
    cfg = tmp_path / 'tiny_dist.py'
    cfg.write_text(
        tiny_seg_config(
            data_root, max_iters=3,
            extra="""
            custom_imports = dict(imports=['tiny_hooks'],
                                  allow_failed_imports=False)
            custom_hooks = [dict(type='DumpRankWeightsHook')]
            # GroupNorm: no per-rank running statistics (SyncBN is GPU-only)
            norm_cfg = dict(type='GN', num_groups=4, requires_grad=True)
            model['backbone']['norm_cfg'] = norm_cfg
            model['decode_head']['norm_cfg'] = norm_cfg
            """))
    work_dir = tmp_path / 'work'
    # tests/ on the path for the tiny_hooks module (site-packages may hold
    # an unrelated `tests` package, so it is not imported as tests.*)
    env = dict(os.environ, PORT=str(free_port()), OMP_NUM_THREADS='1',
               PYTHONPATH=osp.join(REPO, 'tests'))
    proc = subprocess.run(
        ['bash', 'tools/dist_train.sh', str(cfg), '2', '--work-dir',
         str(work_dir)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'Distributed training is not used' not in proc.stdout + \
        proc.stderr
    assert (work_dir / 'iter_3.pth').is_file()
    rank0 = torch.load(work_dir / 'rank0.pth')
    rank1 = torch.load(work_dir / 'rank1.pth')
    assert rank0.keys() == rank1.keys()
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    # rank 0's checkpoint holds the same final weights
    saved = torch.load(work_dir / 'iter_3.pth')['state_dict']
    assert torch.equal(saved['decode_head.conv_seg.weight'],
                       rank0['decode_head.conv_seg.weight'])
