"""mmbdl.utils.weights.state_dict_load: reading a checkpoint's state dict and
loading the part of it that fits a module."""
import torch
from torch import nn

import mmbdl.utils
from mmbdl.utils.weights import load_fitting_weights, read_state_dict
from mmbdl.utils.weights.safe_load import register_checkpoint_safe_globals


def _module():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))


def test_loads_only_the_keys_that_fit():
    """Matching names (``module.`` ignored) and shapes are loaded; another
    shape and unknown keys leave the module's own weights."""
    module = _module()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    weight = torch.arange(6, dtype=torch.float32).reshape(3, 2)
    load_fitting_weights(
        module, {
            'module.0.weight': weight,
            '0.bias': torch.ones(4),  # another shape
            '1.running_mean': torch.full((3, ), 2.0),
            'extra.weight': torch.zeros(1),  # not in the module
        })
    after = module.state_dict()
    assert torch.equal(after['0.weight'], weight)
    assert torch.equal(after['0.bias'], before['0.bias'])
    assert torch.equal(after['1.running_mean'], torch.full((3, ), 2.0))
    for key in ('1.weight', '1.bias', '1.running_var'):
        assert torch.equal(after[key], before[key])
    assert 'extra.weight' not in after


def test_read_state_dict_unwraps_a_checkpoint(tmp_path):
    """A checkpoint's ``state_dict`` is returned; a plain state dict is
    returned as it is."""
    state = {'a': torch.tensor([1.0, 2.0]), 'b': torch.zeros(2, 2)}
    wrapped = str(tmp_path / 'wrapped.pth')
    torch.save(dict(meta=dict(epoch=3), state_dict=state), wrapped)
    plain = str(tmp_path / 'plain.pth')
    torch.save(state, plain)
    for path in (wrapped, plain):
        read = read_state_dict(path)
        assert sorted(read) == ['a', 'b']
        for key, value in state.items():
            assert read[key].device.type == 'cpu'
            assert torch.equal(read[key], value)


def test_utils_still_exports_the_safe_loader():
    """``mmbdl.utils`` re-exports the package's safe-loading entry."""
    assert (mmbdl.utils.register_checkpoint_safe_globals
            is register_checkpoint_safe_globals)
    assert 'register_checkpoint_safe_globals' in mmbdl.utils.__all__
