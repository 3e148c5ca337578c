"""Online self-training with 2 CPU processes (gloo): the EMA teachers stay
identical on both ranks although the ranks see different batches."""
import os
import os.path as osp
import subprocess
import sys
import textwrap

import torch
from dist_utils import free_port

TESTS = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
REPO = osp.dirname(TESTS)

SCRIPT = textwrap.dedent('''
    import os, sys
    sys.path.insert(0, {tests!r})
    sys.path.insert(0, {here!r})
    sys.path.insert(0, {repo!r})
    import torch
    import torch.distributed as dist
    dist.init_process_group('gloo')
    from mmbdl.utils import register_all_modules
    register_all_modules()
    from mmengine.runner import Runner
    from test_ema_self_training import ema_cfg
    cfg = ema_cfg({data!r}, {work!r}, [dict(type='LossRecorderHook')])
    cfg['default_hooks']['checkpoint']['interval'] = 100
    cfg['custom_hooks'] = [h for h in cfg['custom_hooks']
                           if h['type'] != 'EventRecorderHook']
    runner = Runner(**cfg, launcher='pytorch',
                    cfg=dict(model_wrapper_cfg=dict(
                        type='BDLDistributedDataParallel')))
    runner.train()
    rank = dist.get_rank()
    losses = [h.losses for h in runner.hooks
              if type(h).__name__ == 'LossRecorderHook'][0]
    torch.save(dict(state=runner.model.module.state_dict(), losses=losses,
                    rows=runner.train_loop.rows),
               os.path.join({out!r}, f'rank{{rank}}.pth'))
    dist.destroy_process_group()
''')


def test_two_ranks_keep_identical_teachers(tmp_path):
    from bdl_tiny import write_bdl_data
    data = write_bdl_data(str(tmp_path / 'data'), num_src=4, num_tgt=4)
    script = tmp_path / 'run.py'
    script.write_text(SCRIPT.format(
        tests=TESTS, here=osp.dirname(osp.abspath(__file__)), repo=REPO,
        data=data, work=str(tmp_path / 'work'), out=str(tmp_path)))
    env = dict(os.environ, OMP_NUM_THREADS='1', MASTER_ADDR='127.0.0.1')
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node',
           '2', '--master_port', str(free_port()), str(script)]
    proc = subprocess.run(cmd, env=env, cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r0 = torch.load(tmp_path / 'rank0.pth', weights_only=False)
    r1 = torch.load(tmp_path / 'rank1.pth', weights_only=False)
    # the ranks trained on different batches ...
    assert r0['losses'] != r1['losses']
    # ... yet the teacher (and M) are identical on both ranks
    teacher = [k for k in r0['state'] if k.startswith('segmentor.teacher.')]
    assert teacher
    for key in teacher + [k for k in r0['state']
                          if k.startswith('segmentor.segmentor.')
                          and 'running_' not in k
                          and 'num_batches' not in k]:
        assert torch.equal(r0['state'][key], r1['state'][key]), key
    # the teacher moved away from M by the EMA (it is not a copy)
    assert any(not torch.equal(r0['state'][k],
                               r0['state'][k.replace('.teacher.',
                                                     '.segmentor.', 1)])
               for k in teacher if r0['state'][k].is_floating_point())
    # the confident-pixel statistics are summed over both ranks
    stats = r0['state']['segmentor.ema_pixel_stats']
    assert torch.equal(stats, r1['state']['segmentor.ema_pixel_stats'])
    assert stats[1].item() == 3 * 2 * 2 * 32 * 32  # iters x batch x ranks
    ratios = [r['ssl_pixel_ratio'] for r in r0['rows']]
    assert ratios[-1] == (stats[0] / stats[1]).item()
