"""No host sync in the training step: no tensor-to-host read
(``item``/``float``/``int``/``bool``/``tolist``/``numpy``) from mmbdl's
code inside ``train_step`` in any phase kind, counted over real steps of
the tiny BDL loop on the CPU (the same calls wait for the device on a GPU;
the cuda tier checks it there with ``torch.cuda.set_sync_debug_mode``)."""
import os.path as osp

import pytest
import torch
from bdl_tiny import real_bdl_cfg, write_bdl_data
from mmengine.runner import Runner

import mmbdl
from mmbdl.models.segmentors.finite_loss_check import DEVICE_INTERVAL
from mmbdl.utils.host_sync_counter import HostSyncCounter, PhaseSyncCounts

ITERS = dict(source_only=4, translation=4, adaptation=4, self_training=4)
PACKAGE = osp.dirname(mmbdl.__file__)


def test_counter_counts_each_read_once_by_site():
    x = torch.arange(4.0)
    with HostSyncCounter() as counter:
        float(x[1])
        x.sum().item()
        int(x[2])
        bool(x[0])
        x.tolist()
    assert counter.total == 5
    assert all(f == osp.abspath(__file__) and func.startswith('test_')
               for f, _, _, func in counter.calls)
    assert torch.Tensor.item is not counter._saved.get('item')
    with HostSyncCounter(enabled=False) as off:
        x.sum().item()
    assert off.total == 0


def _ema(cfg):
    """Online self-training: the EMA teacher labels every target batch."""
    cfg['train_cfg']['self_training'] = 'ema_teacher'
    cfg['train_cfg']['init']['self_training'] = 'continue'
    cfg['model']['segmentor']['type'] = 'EMATeacherSegmentor'
    cfg['model']['segmentor']['ema_cfg'] = dict(pseudo_threshold=0.34)
    cfg['custom_hooks'] = [
        h if h['type'] != 'PseudoLabelHook' else dict(
            type='EMATeacherHook', alpha=0.9) for h in cfg['custom_hooks']]


@pytest.mark.parametrize('self_training', ['offline', 'ema_teacher'])
def test_no_mmbdl_host_read_in_any_train_step(tmp_path, self_training):
    data_root = write_bdl_data(str(tmp_path / 'data'))
    cfg = real_bdl_cfg(data_root, str(tmp_path / 'work'), num_rounds=1,
                       num_ssl_rounds=1, iters=dict(ITERS),
                       allow_random_init=True)
    if self_training == 'ema_teacher':
        _ema(cfg)
    # the finite-loss check as on an accelerator (on the CPU it reads every
    # step by default: no device to wait for there)
    cfg['model']['segmentor']['uda_cfg']['check_finite_interval'] = \
        DEVICE_INTERVAL
    runner = Runner(**cfg)
    counts = PhaseSyncCounts(runner.model)
    try:
        runner.train()
    finally:
        counts.remove()
    table = counts.table(PACKAGE)
    assert {k: v['steps'] for k, v in table.items()} == ITERS
    own = {kind: row['sites'] for kind, row in table.items()}
    assert own == {kind: {} for kind in ITERS}, own
    # the loaded (CPU) labels are read (source, and offline pseudo-labels)
    assert table['source_only']['host_side']
    assert table['self_training']['host_side']
