"""synchronised_steps: each wrapper step reduces its optimizer's gradients
first, nested blocks reduce once, and the wrappers are put back exactly.

The values come from two CPU processes (torchrun, gloo) on different data,
checked against the mean over ranks computed here without any process
group; the bookkeeping (nesting, restoring, chaining) is checked in this
process with the world size patched to 2 and a recording reduce function.
"""
import os
import os.path as osp
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn as nn
from dist_utils import free_port
from mmengine.optim import OptimWrapper, OptimWrapperDict

from mmbdl.models.utils import grad_sync
from mmbdl.models.utils.grad_sync import synchronised_steps

HERE = osp.dirname(osp.abspath(__file__))
TESTS = osp.dirname(osp.dirname(HERE))
REPO = osp.dirname(TESTS)
LR = 0.5
MAX_NORM = 0.5
INIT_SCALE = 1024.0


def make_model() -> nn.Module:
    """The same small layer on every rank."""
    torch.manual_seed(0)
    return nn.Linear(3, 2)


def rank_loss(model: nn.Module, rank: int) -> torch.Tensor:
    """A loss on data of one rank (different per rank)."""
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(10 + rank))
    return (model(x) ** 2).sum() * (rank + 1)


def local_grads(rank: int) -> list:
    """One rank's gradients, without any process group."""
    model = make_model()
    rank_loss(model, rank).backward()
    return [p.grad.clone() for p in model.parameters()]


def mean_grads() -> list:
    """The gradients averaged over ranks 0 and 1, computed here."""
    return [(a + b) / 2 for a, b in zip(local_grads(0), local_grads(1))]


def clipped(grads: list, max_norm: float) -> list:
    """``clip_grad_norm_``'s rule, written out."""
    norm = torch.sqrt(sum((g.double() ** 2).sum() for g in grads))
    coef = min(1.0, max_norm / (float(norm) + 1e-6))
    return [g * coef for g in grads]


SCRIPT = textwrap.dedent('''
    import functools, os, sys
    sys.path.insert(0, {here!r})
    sys.path.insert(0, {tests!r})
    sys.path.insert(0, {repo!r})
    import torch
    import torch.distributed as dist
    from mmengine.optim import OptimWrapper, OptimWrapperDict
    from mmengine.optim.optimizer import amp_optimizer_wrapper as amp
    from mmbdl.models.utils.grad_sync import (mean_all_reduce_grads,
                                              synchronised_steps)
    from test_grad_sync import (INIT_SCALE, LR, MAX_NORM, make_model,
                                rank_loss)
    dist.init_process_group('gloo')
    rank = dist.get_rank()
    out = {{}}

    def counting(calls):
        def reduce(params):
            calls.append(len(params))
            mean_all_reduce_grads(params)
        return reduce

    def state(model):
        return dict(grads=[p.grad.clone() for p in model.parameters()],
                    params=[p.detach().clone() for p in model.parameters()])

    def sgd(model):
        return OptimWrapper(torch.optim.SGD(model.parameters(), lr=LR))

    # one level
    model = make_model()
    wrapper = sgd(model)
    calls = []
    with synchronised_steps(wrapper, counting(calls)):
        wrapper.backward(rank_loss(model, rank))
        wrapper.step()
    out['single'] = dict(state(model), calls=calls,
                         left='step' in wrapper.__dict__)

    # an outer block (the distributed wrapper's) over a and b, an inner one
    # (the translator's) over a and c: a is the outer one's
    models = dict(a=make_model(), b=make_model(), c=make_model())
    wrappers = {{k: sgd(m) for k, m in models.items()}}
    outer, inner = [], []
    with synchronised_steps(OptimWrapperDict(a=wrappers['a'],
                                             b=wrappers['b']),
                            counting(outer)):
        with synchronised_steps([wrappers['a'], wrappers['c']],
                                counting(inner)):
            for key in 'abc':
                wrappers[key].backward(rank_loss(models[key], rank))
                wrappers[key].step()
        after_inner = {{k: 'step' in w.__dict__
                        for k, w in wrappers.items()}}
    out['nested'] = dict(
        {{k: state(m) for k, m in models.items()}}, outer=outer, inner=inner,
        after_inner=after_inner,
        left={{k: 'step' in w.__dict__ for k, w in wrappers.items()}})

    # AmpOptimWrapper (a CPU GradScaler here): reduced before the unscale
    # and the clipping; a non-finite gradient on one rank skips every rank
    amp.is_cuda_available = lambda: True
    amp.GradScaler = functools.partial(torch.amp.GradScaler, 'cpu')
    model = make_model()
    wrapper = amp.AmpOptimWrapper(
        optimizer=torch.optim.SGD(model.parameters(), lr=LR),
        clip_grad=dict(max_norm=MAX_NORM),
        loss_scale=dict(init_scale=INIT_SCALE))
    with synchronised_steps(wrapper):
        wrapper.update_params(rank_loss(model, rank))
    first = dict(params=[p.detach().clone() for p in model.parameters()],
                 scale=wrapper.loss_scaler.get_scale())
    with synchronised_steps(wrapper):
        loss = rank_loss(model, rank)
        wrapper.update_params(loss * float('inf') if rank == 1 else loss)
    out['amp'] = dict(
        first=first,
        params=[p.detach().clone() for p in model.parameters()],
        scale=wrapper.loss_scaler.get_scale(),
        left='step' in wrapper.__dict__)
    torch.save(out, f'rank{{rank}}.pth')
    dist.destroy_process_group()
''')


@pytest.fixture(scope='module')
def ranks(tmp_path_factory):
    """What both ranks recorded (one torchrun for every case)."""
    tmp = tmp_path_factory.mktemp('grad_sync')
    script = tmp / 'run.py'
    script.write_text(SCRIPT.format(here=HERE, tests=TESTS, repo=REPO))
    env = dict(os.environ, OMP_NUM_THREADS='1', MASTER_ADDR='127.0.0.1')
    proc = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node',
         '2', '--master_port', str(free_port()), str(script)],
        env=env, cwd=str(tmp), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [torch.load(tmp / f'rank{r}.pth', weights_only=False)
            for r in (0, 1)]


def _assert_close(actual: list, expected: list) -> None:
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        torch.testing.assert_close(a, e, rtol=1e-6, atol=1e-7)


def test_gradients_after_step_are_the_mean_over_ranks(ranks):
    expected = mean_grads()
    init = [p.detach() for p in make_model().parameters()]
    # the ranks' own gradients differ: the average is not a no-op
    assert not torch.allclose(local_grads(0)[0], local_grads(1)[0])
    for out in ranks:
        single = out['single']
        _assert_close(single['grads'], expected)
        _assert_close(single['params'],
                      [p - LR * g for p, g in zip(init, expected)])
        assert single['calls'] == [2]  # weight and bias, one step
        assert single['left'] is False  # the class's step again


def test_nested_blocks_reduce_each_gradient_once(ranks):
    expected = mean_grads()
    for out in ranks:
        nested = out['nested']
        for key in 'abc':
            # equal to the one-level result, so no wrapper went unreduced
            _assert_close(nested[key]['grads'], expected)
        # the outer reduce ran for a and b, once per step; the inner one
        # only for c, which no outer block covers
        assert nested['outer'] == [2, 2]
        assert nested['inner'] == [2]
        # leaving the inner block keeps the outer block's a, restores c
        assert nested['after_inner'] == dict(a=True, b=True, c=False)
        assert nested['left'] == dict(a=False, b=False, c=False)


def test_amp_wrapper_reduces_before_unscale_and_clipping(ranks):
    init = [p.detach() for p in make_model().parameters()]
    mean = mean_grads()
    want = [p - LR * g for p, g in zip(init, clipped(mean, MAX_NORM))]
    # clipping the mean differs from averaging clipped gradients: the
    # order is visible in the values
    late = [(a + b) / 2 for a, b in zip(clipped(local_grads(0), MAX_NORM),
                                        clipped(local_grads(1), MAX_NORM))]
    assert not torch.allclose(want[0], init[0] - LR * late[0])
    for out in ranks:
        amp = out['amp']
        _assert_close(amp['first']['params'], want)
        assert amp['first']['scale'] == INIT_SCALE
        # rank 1's infinite loss made every rank skip the step and halve
        # the scale alike
        _assert_close(amp['params'], want)
        assert amp['scale'] == INIT_SCALE / 2
        assert amp['left'] is False


# ----------------------------------------------------------------------
# bookkeeping, in this process


def _wrapper() -> OptimWrapper:
    model = make_model()
    return OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.0))


def test_one_process_patches_nothing():
    wrapper = _wrapper()
    calls = []
    with synchronised_steps(wrapper, calls.append):
        assert 'step' not in wrapper.__dict__
        wrapper.step()
    assert calls == []
    assert 'step' not in wrapper.__dict__


@pytest.fixture
def two_ranks(monkeypatch):
    monkeypatch.setattr(grad_sync, 'get_world_size', lambda: 2)


def test_foreign_step_runs_after_the_reduce_and_is_restored(two_ranks):
    wrapper = _wrapper()
    events = []
    plain = wrapper.step

    def foreign(**kwargs):
        events.append('foreign')
        return plain(**kwargs)

    wrapper.step = foreign
    with synchronised_steps(OptimWrapperDict(x=wrapper),
                            lambda params: events.append(len(params))):
        wrapper.step()
        wrapper.step()
    assert events == [2, 'foreign', 2, 'foreign']
    assert wrapper.__dict__['step'] is foreign


def test_wrappers_are_restored_when_the_step_fails(two_ranks):
    first, second = _wrapper(), _wrapper()
    with pytest.raises(RuntimeError, match='boom'):
        with synchronised_steps([first, second, first], lambda params: None):
            assert {'step'} <= set(first.__dict__)
            assert {'step'} <= set(second.__dict__)
            raise RuntimeError('boom')
    assert 'step' not in first.__dict__
    assert 'step' not in second.__dict__
    assert grad_sync._SYNCHRONISED == {}
    # a new block patches them again (nothing was left marked)
    calls = []
    with synchronised_steps(first, calls.append):
        first.step()
    assert [[id(p) for p in params] for params in calls] == [
        [id(p) for p in first.optimizer.param_groups[0]['params']]]


def test_duplicates_reduce_once(two_ranks):
    wrapper = _wrapper()
    calls = []
    with synchronised_steps([wrapper, OptimWrapperDict(again=wrapper)],
                            lambda params: calls.append(1)):
        wrapper.step()
    assert calls == [1]
