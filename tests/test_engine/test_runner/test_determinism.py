"""``randomness=dict(deterministic=True)`` holds in every phase of the BDL
loop, and a CPU run under it repeats digit for digit."""
import pytest
import torch
from bdl_tiny import toy_bdl_cfg, write_bdl_data
from mmengine.runner import Runner

from mmbdl.engine.hooks import BDLHook
from mmbdl.registry import HOOKS


@HOOKS.register_module(force=True)
class DeterminismRecorderHook(BDLHook):
    """The global determinism switches at every phase start and step."""

    def __init__(self) -> None:
        self.seen = []

    def _record(self, where) -> None:
        self.seen.append((where, torch.are_deterministic_algorithms_enabled(),
                          torch.backends.cudnn.deterministic,
                          torch.backends.cudnn.benchmark))

    def before_phase(self, runner, phase) -> None:
        self._record(phase.name)

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self._record(runner.iter)


@pytest.fixture
def restore_switches():
    state = (torch.are_deterministic_algorithms_enabled(),
             torch.backends.cudnn.deterministic,
             torch.backends.cudnn.benchmark)
    yield
    torch.use_deterministic_algorithms(state[0])
    torch.backends.cudnn.deterministic = state[1]
    torch.backends.cudnn.benchmark = state[2]


def _run(data_root, work_dir):
    cfg = toy_bdl_cfg(data_root, work_dir,
                      extra_hooks=[dict(type='DeterminismRecorderHook'),
                                   dict(type='LossRecorderHook')])
    cfg['randomness'] = dict(seed=0, deterministic=True)
    # the config asks for cuDNN's benchmark mode: deterministic wins
    cfg['env_cfg'] = dict(cudnn_benchmark=True)
    runner = Runner(**cfg)
    runner.train()
    hooks = {type(h).__name__: h for h in runner.hooks}
    return (hooks['DeterminismRecorderHook'].seen,
            hooks['LossRecorderHook'].losses, runner.model.state_dict())


def test_deterministic_switches_hold_in_every_phase(tmp_path,
                                                    restore_switches):
    data_root = write_bdl_data(str(tmp_path / 'data'))
    seen, losses, weights = _run(data_root, str(tmp_path / 'a'))
    phases = [s for s in seen if isinstance(s[0], str)]
    assert [s[0] for s in phases] == [
        'k0_source_only', 'k1_translation', 'k1_adaptation',
        'k1_self_training_i1', 'k2_translation', 'k2_adaptation',
        'k2_self_training_i1']
    steps = [s for s in seen if not isinstance(s[0], str)]
    assert len(steps) == len(losses) > len(phases)
    assert all(s[1:] == (True, True, False) for s in seen), seen
    # the same seed again: the same losses and bit-identical final weights
    _, again, weights_again = _run(data_root, str(tmp_path / 'b'))
    assert again == losses
    assert weights.keys() == weights_again.keys()
    assert all(torch.equal(weights[k], weights_again[k]) for k in weights)
