"""The finite-loss check reads losses without a host sync in every step on
an accelerator: the flags are read every ``interval`` steps and at
validation, and the error names the first bad iteration."""
import pytest
import torch
from mmengine import MessageHub
from tiny_uda import tiny_uda_cfg, uda_batch

from mmbdl.models.segmentors.finite_loss_check import (DEVICE_INTERVAL,
                                                       FiniteLossCheck)
from mmbdl.registry import MODELS


def _step(check, it, value):
    MessageHub.get_current_instance().update_info('iter', it)
    check({'src.loss_ce': torch.tensor(value), 'acc': torch.tensor(1.0),
           'aux.loss_list': [torch.tensor(1.0), torch.tensor(2.0)]})


def test_cpu_losses_are_read_at_once():
    check = FiniteLossCheck()
    assert check.interval_for(torch.device('cpu')) == 1
    assert check.interval_for(torch.device('cuda')) == DEVICE_INTERVAL == 50
    _step(check, 3, 1.0)
    assert check.pending == 0
    with pytest.raises(FloatingPointError,
                       match=r'src\.loss_ce = nan at iteration 4; training '
                       'stopped before the update'):
        _step(check, 4, float('nan'))


def test_interval_reads_every_n_steps_and_names_the_first_bad_one():
    check = FiniteLossCheck(interval=3)
    _step(check, 10, 1.0)
    _step(check, 11, float('inf'))
    assert check.pending == 2  # nothing read yet: no host sync
    with pytest.raises(FloatingPointError,
                       match=r'loss_ce = inf at iteration 11; found 1 steps '
                       'later .*every 3 steps'):
        _step(check, 12, 1.0)
    assert check.pending == 0
    # a list-valued loss is checked too
    MessageHub.get_current_instance().update_info('iter', 13)
    check({'aux.loss_list': [torch.tensor(1.0), torch.tensor(float('nan'))]})
    with pytest.raises(FloatingPointError, match='aux.loss_list = nan'):
        check.flush()


def test_flush_on_validation_of_the_segmentor():
    model = MODELS.build(tiny_uda_cfg(check_finite_interval=50))
    assert model._finite_check.interval == 50
    MessageHub.get_current_instance().update_info('iter', 5)
    model.check_finite({'src.loss_ce': torch.tensor(float('nan'))})
    assert model._finite_check.pending == 1
    batch = uda_batch()
    data = dict(inputs=list(batch['inputs']['source']),
                data_samples=batch['data_samples']['source'])
    with pytest.raises(FloatingPointError, match='iteration 5'):
        model.val_step(data)


def test_bad_interval():
    with pytest.raises(ValueError, match='interval=0'):
        FiniteLossCheck(interval=0)
