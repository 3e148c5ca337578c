"""``--resume`` stays in its own work dir and survives a truncated latest
checkpoint (BDLRunner, K=2, N=1, 32x32 images)."""
import glob
import json
import os
import os.path as osp
import shutil

import pytest
import torch
from bdl_tiny import real_bdl_cfg, write_bdl_data

from mmbdl.engine.runner.bdl_runner import BDLRunner
from mmbdl.utils.errors import RunStateError
from mmbdl.utils.weights import (UnreadableCheckpointError,
                                 resolve_in_work_dir, resume_checkpoint,
                                 unreadable_reason)


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return write_bdl_data(str(tmp_path_factory.mktemp('bdl') / 'data'))


def _run(data_root, work_dir, kill=None, resume=False):
    cfg = real_bdl_cfg(data_root, work_dir,
                       extra_hooks=[kill] if kill else [])
    runner = BDLRunner(**cfg, resume=resume)
    runner.train()
    return runner


@pytest.fixture(scope='module')
def reference(data_root, tmp_path_factory):
    work = str(tmp_path_factory.mktemp('ref') / 'work')
    runner = _run(data_root, work)
    weights = {k: v.clone() for k, v in runner.model.state_dict().items()}
    with open(osp.join(work, 'bdl_rounds.json')) as f:
        rows = json.load(f)['rows']
    # val_interval=None selects no best: no *_best.pth copies, the rows'
    # best records name the phase checkpoints
    assert runner.train_loop._table.selection.val_interval is None
    assert glob.glob(osp.join(work, '*_best.pth')) == []
    assert [r['best']['checkpoint'] for r in rows] == \
        [r['phase'] + '.pth' for r in rows]
    return weights, rows


def _same_result(runner, work, reference):
    weights, rows = reference
    state = runner.model.state_dict()
    assert [k for k in weights if not torch.equal(weights[k], state[k])] \
        == []
    with open(osp.join(work, 'bdl_rounds.json')) as f:
        got = json.load(f)['rows']
    assert [(r['model'], r['mIoU']) for r in got] == \
        [(r['model'], r['mIoU']) for r in rows]


def test_copied_work_dir_resumes_from_its_own_files(data_root, reference,
                                                    tmp_path, caplog):
    original = str(tmp_path / 'original')
    # killed before the pseudo-labels: S'(1) exists, the loop state names
    # it, last_checkpoint names k1_adaptation.pth, all in `original`
    with pytest.raises(KeyboardInterrupt):
        _run(data_root, original,
             kill=dict(type='RaiseAtHook', event='before_phase',
                       value='k1_self_training_i1'))
    with open(osp.join(original, 'last_checkpoint')) as f:
        assert f.read().strip() == osp.join(original, 'k1_adaptation.pth')
    copy = str(tmp_path / 'copy')
    shutil.copytree(original, copy)
    shutil.rmtree(original)
    runner = _run(data_root, copy, resume=True)
    assert runner.iter == runner.train_loop.max_iters
    _same_result(runner, copy, reference)
    # nothing was read from or written to the original folder
    assert not osp.exists(original)
    assert osp.isdir(osp.join(copy, 'translated', 'k1'))
    assert runner.train_loop.artifacts.translated_source_dir.startswith(
        copy)


def test_truncated_latest_checkpoint_falls_back_loudly(
        data_root, reference, tmp_path):
    work = str(tmp_path / 'work')
    with pytest.raises(KeyboardInterrupt):
        _run(data_root, work,
             kill=dict(type='RaiseAtHook', event='iter', value=9))
    with open(osp.join(work, 'last_checkpoint')) as f:
        latest = f.read().strip()
    size = osp.getsize(latest)
    with open(latest, 'r+b') as f:
        f.truncate(size // 2)
    assert 'zip' in unreadable_reason(latest)
    fallback = resume_checkpoint(work)
    assert fallback != latest and unreadable_reason(fallback) is None
    runner = _run(data_root, work, resume=True)
    assert runner.iter == runner.train_loop.max_iters
    _same_result(runner, work, reference)
    log = open(next(
        osp.join(root, n) for root, _, names in os.walk(work)
        for n in names if n.endswith('.log'))).read()
    assert f'the latest checkpoint {latest} cannot be read' in log


def test_no_readable_checkpoint_names_the_file(tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    bad = work / 'iter_5.pth'
    bad.write_bytes(b'PK\x03\x04 truncated')
    (work / 'last_checkpoint').write_text(str(bad))
    with pytest.raises(UnreadableCheckpointError, match=str(bad)):
        resume_checkpoint(str(work))
    # a relative reference is resolved against the work dir
    assert resolve_in_work_dir('iter_5.pth', str(work)) == str(bad)
    # one outside the work dir without a file of that name is refused
    with pytest.raises(RunStateError, match='outside this work dir'):
        resolve_in_work_dir('/elsewhere/iter_7.pth', str(work))
    assert resolve_in_work_dir('/elsewhere/iter_5.pth', str(work)) == \
        str(bad)


def test_truncated_checkpoint_load_names_the_file(tmp_path):
    from mmengine.runner.checkpoint import _load_checkpoint
    path = tmp_path / 'model.pth'
    torch.save({'state_dict': {'w': torch.ones(1000)}}, str(path))
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(UnreadableCheckpointError) as err:
        _load_checkpoint(str(path), map_location='cpu')
    assert str(path) in str(err.value)
    assert 'truncated or damaged' in str(err.value)
