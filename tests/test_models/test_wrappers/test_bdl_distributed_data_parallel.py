"""Two CPU processes (gloo) train the tiny BDL model through every phase kind
with ``BDLDistributedDataParallel``; both ranks must end with the same
weights although they see different batches."""
import os
import os.path as osp
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn as nn
from dist_utils import free_port

from mmbdl.models.wrappers import BDLDistributedDataParallel
from mmbdl.utils import ConfigCheckError

# trains or compares whole steps of real models: make test-quick leaves
# it out (tests/conftest.py, the slow marker)
pytestmark = pytest.mark.slow

TESTS = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
REPO = osp.dirname(TESTS)

SCRIPT = textwrap.dedent('''
    import os, sys
    sys.path.insert(0, {tests!r})
    sys.path.insert(0, {repo!r})
    import torch
    import torch.distributed as dist
    dist.init_process_group('gloo')
    from mmbdl.utils import register_all_modules
    register_all_modules()
    from mmengine.runner import Runner
    from bdl_tiny import real_bdl_cfg
    cfg = real_bdl_cfg({data!r}, {work!r}, num_rounds=1, num_ssl_rounds=1,
                      iters=dict(source_only=2, translation=2, adaptation=2,
                                 self_training=2))
    cfg['default_hooks']['checkpoint']['interval'] = 100
    cfg['custom_hooks'] = [h for h in cfg['custom_hooks']
                           if h['type'] != 'EventRecorderHook']
    cfg['custom_hooks'].append(dict(type='LossRecorderHook'))
    runner = Runner(**cfg, launcher='pytorch',
                    cfg=dict(model_wrapper_cfg=dict(
                        type='BDLDistributedDataParallel')))
    runner.train()
    rank = dist.get_rank()
    losses = [h.losses for h in runner.hooks
              if type(h).__name__ == 'LossRecorderHook'][0]
    torch.save(dict(state=runner.model.module.state_dict(), losses=losses,
                    wrapper=type(runner.model).__name__),
               os.path.join({out!r}, f'rank{{rank}}.pth'))
    dist.destroy_process_group()
''')


def test_two_ranks_end_with_identical_weights(tmp_path):
    from bdl_tiny import write_bdl_data
    data = write_bdl_data(str(tmp_path / 'data'), num_src=4, num_tgt=4)
    script = tmp_path / 'run.py'
    script.write_text(SCRIPT.format(tests=TESTS, repo=REPO, data=data,
                                    work=str(tmp_path / 'work'),
                                    out=str(tmp_path)))
    env = dict(os.environ, OMP_NUM_THREADS='1', MASTER_ADDR='127.0.0.1')
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node',
           '2', '--master_port', str(free_port()),
           str(script)]
    proc = subprocess.run(cmd, env=env, cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r0 = torch.load(tmp_path / 'rank0.pth', weights_only=False)
    r1 = torch.load(tmp_path / 'rank1.pth', weights_only=False)
    assert r0['wrapper'] == 'BDLDistributedDataParallel'
    # the ranks trained on different batches ...
    assert r0['losses'] != r1['losses']
    # ... yet every trained parameter group is identical on both ranks
    groups = ['segmentor.segmentor.', 'segmentor.discriminator.',
              'translator.generators.source.', 'translator.generators.target.',
              'translator.discriminators.source.',
              'translator.discriminators.target.']
    init = torch.load(tmp_path / 'work' / 'bdl_initial_weights.pth')
    for group in groups:
        keys = [k for k in r0['state'] if k.startswith(group)
                and 'running_' not in k and 'num_batches' not in k]
        assert keys, group
        for key in keys:
            assert torch.equal(r0['state'][key], r1['state'][key]), key
    # and training did change each group
    moved = {g: False for g in groups}
    flat_init = {'segmentor.' + k: v for k, v in init['segmentor'].items()}
    flat_init.update(
        {'translator.' + k: v for k, v in init['translator'].items()})
    for key, value in r0['state'].items():
        for g in groups:
            if key.startswith(g) and key in flat_init and \
                    value.is_floating_point() and \
                    not torch.equal(value, flat_init[key]):
                moved[g] = True
    assert all(moved.values()), moved


def test_device_ids_follow_ddp_rules():
    """None for a CPU module; one device, the module's, otherwise."""
    module = nn.Linear(2, 2)
    assert BDLDistributedDataParallel(module).device_ids is None
    assert BDLDistributedDataParallel(module, device_ids=None).device_ids \
        is None
    with pytest.raises(ConfigCheckError, match=r"lives on \['cpu'\]"):
        BDLDistributedDataParallel(module, device_ids=[0])
    with pytest.raises(ConfigCheckError, match='must name one device'):
        BDLDistributedDataParallel(module, device_ids=[0, 1])
    with pytest.raises(TypeError, match='unexpected keyword'):
        BDLDistributedDataParallel(module, no_such_option=True)


UNUSED_SCRIPT = textwrap.dedent('''
    import sys
    import torch, torch.nn as nn, torch.distributed as dist
    sys.path.insert(0, {repo!r})
    from mmengine.optim import OptimWrapper
    from mmbdl.models.utils import synchronised_steps
    from mmbdl.models.wrappers import BDLDistributedDataParallel
    dist.init_process_group('gloo')
    rank = dist.get_rank()
    torch.manual_seed(0)
    model = nn.ModuleDict(dict(used=nn.Linear(2, 1), unused=nn.Linear(2, 1)))
    ddp = BDLDistributedDataParallel(model, find_unused_parameters={flag})
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=1.0))
    x = torch.full((1, 2), float(rank + 1))
    loss = model['used'](x).sum()
    if rank == 1:  # 'unused' gets a gradient on rank 1 only
        loss = loss + model['unused'](x).sum()
    # one file per rank: two ranks printing to one stdout interleave
    try:
        # the synchronisation BDLDistributedDataParallel.train_step runs
        with synchronised_steps(wrapper, ddp.all_reduce_grads):
            wrapper.backward(loss)
            wrapper.step()  # averages the gradients first (not zeroed)
        line = ' '.join(map(str, ('RESULT', rank,
                                  model['unused'].weight.grad.tolist(),
                                  model['used'].weight.grad.tolist())))
    except Exception as err:
        line = ' '.join(map(str, ('ERROR', rank, type(err).__name__, err)))
    with open(f'rank{{rank}}.txt', 'w') as f:
        f.write(line)
    dist.destroy_process_group()
''')


@pytest.mark.parametrize('flag', [False, True])
def test_find_unused_parameters_is_honoured(flag, tmp_path):
    script = tmp_path / 'unused.py'
    script.write_text(UNUSED_SCRIPT.format(repo=REPO, flag=flag))
    env = dict(os.environ, OMP_NUM_THREADS='1', MASTER_ADDR='127.0.0.1')
    proc = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node',
         '2', '--master_port', str(free_port()), str(script)],
        env=env, cwd=str(tmp_path), capture_output=True, text=True,
        timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = [(tmp_path / f'rank{rank}.txt').read_text() for rank in (0, 1)]
    assert all(line.startswith(('RESULT', 'ERROR')) for line in lines), \
        lines
    if not flag:
        # DDP's default: refused on every rank, naming the parameter
        for line in lines:
            assert line.startswith('ERROR') and 'RunStateError' in line
            assert "'unused.weight'" in line
            assert 'find_unused_parameters=True' in line
    else:
        # averaged with zeros where missing: rank 1's gradient (2, 2) / 2;
        # the used layer's gradient is the mean of the inputs (1 and 2)
        for line in lines:
            assert line.startswith('RESULT')
            assert '[[1.0, 1.0]] [[1.5, 1.5]]' in line
