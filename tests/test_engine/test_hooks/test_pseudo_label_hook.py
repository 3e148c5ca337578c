"""PseudoLabelHook: rounds keyed by (k, i), completion, resume, refusal."""
import json
import os
import os.path as osp
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from mmengine import MessageHub
from mmengine.logging import MMLogger
from mmengine.runner import Runner
from tiny_pseudo_label import (build_segmentor, target_dataset_cfg,
                               write_target_set)

from mmbdl.engine.hooks import PseudoLabelHook
from mmbdl.engine.pseudo_labeling import COMPLETE_FILE, PseudoLabelDirError
from mmbdl.engine.pseudo_labeling import label_files as pl_module
from mmbdl.engine.pseudo_labeling import round_dir_state
from mmbdl.engine.runner.phase_plan import Phase
from mmbdl.registry import HOOKS


@pytest.fixture(scope='module')
def target(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('target'))
    return root, write_target_set(root, num_images=4)


def loader_cfg(root):
    return dict(batch_size=2, num_workers=0, dataset=target_dataset_cfg(root))


def make_runner(tmp_path, model, it=0, resumed=False, name='hook'):
    return SimpleNamespace(
        work_dir=str(tmp_path / 'work'), model=model, iter=it,
        _resume=resumed, cfg={}, logger=MMLogger.get_current_instance(),
        message_hub=MessageHub.get_instance(f'test_pl_hook_{name}'))


def phase(k=1, i=1, kind='self_training'):
    return Phase(0, k, i, kind, f'k{k}_{kind}_i{i}', 0, 1)


def files_of(folder):
    out = {}
    for root, _, names in os.walk(folder):
        for n in names:
            if n.endswith('.png'):
                with open(osp.join(root, n), 'rb') as f:
                    out[osp.relpath(osp.join(root, n), folder)] = f.read()
    return out


def test_real_runner_config_key_and_message_hub(target, tmp_path):
    root, rels = target
    runner = Runner(model=build_segmentor(), work_dir=str(tmp_path / 'w'),
                    default_scope='mmbdl',
                    cfg=dict(pseudo_label_dataloader=loader_cfg(root)))
    hook = HOOKS.build(dict(type='PseudoLabelHook', progress=False))
    hook.before_run(runner)
    assert hook.before_phase(runner, phase(kind='adaptation', i=0)) is None
    assert not osp.exists(osp.join(runner.work_dir, 'pseudo_labels'))
    artifacts = hook.before_phase(runner, phase(k=2, i=1))
    out = osp.join(runner.work_dir, 'pseudo_labels', 'k2_i1')
    assert round_dir_state(out) == 'complete'
    # the hook returns what it wrote; it publishes nothing itself
    assert artifacts.pseudo_label_dir == out
    assert runner.message_hub.get_info('pseudo_label_dir') is None
    stats = artifacts.pseudo_label_stats
    meta = json.load(open(osp.join(out, COMPLETE_FILE)))
    assert stats['kept_ratio'] == meta['stats']['kept_ratio']
    assert 0 < stats['kept_ratio'] < 1 and (stats['k'], stats['i']) == (2, 1)
    assert meta['k'] == 2 and meta['i'] == 1
    assert sorted(files_of(out)) == sorted(r + '.png' for r in rels)
    label = cv2.imread(osp.join(out, rels[0] + '.png'), cv2.IMREAD_UNCHANGED)
    assert label.dtype == np.uint8 and label.shape == (32, 64)
    assert set(np.unique(label)) <= {0, 1, 2, 255}


def test_interrupted_round_is_redone_without_partial_files(
        target, tmp_path, monkeypatch):
    root, rels = target
    model = build_segmentor()
    hook = PseudoLabelHook(dataloader=loader_cfg(root), progress=False)
    runner = make_runner(tmp_path, model, name='resume')
    out = hook.out_dir(runner, 1, 2)
    # 1) a run dies while writing labels (after two files)
    real_write = pl_module.write_label_png
    calls = []

    def dying_write(label, path):
        if len(calls) == 2:
            raise KeyboardInterrupt('killed')
        calls.append(path)
        real_write(label, path)

    monkeypatch.setattr(pl_module, 'write_label_png', dying_write)
    with pytest.raises(KeyboardInterrupt):
        hook.before_phase(runner, phase(i=2))
    monkeypatch.setattr(pl_module, 'write_label_png', real_write)
    assert round_dir_state(out) == 'incomplete'
    assert len(files_of(out)) == 2
    # plus a torn file and a stray temporary file from a hard kill
    os.makedirs(osp.dirname(osp.join(out, rels[3])), exist_ok=True)
    with open(osp.join(out, rels[3] + '.png'), 'wb') as f:
        f.write(b'\x89PNG\r\n')
    open(osp.join(out, '.x.png.999.tmp'), 'wb').close()
    # 2) the resumed run redoes the round
    hook.before_phase(runner, phase(i=2))
    assert round_dir_state(out) == 'complete'
    everything = [n for _, _, ns in os.walk(out) for n in ns]
    assert sorted(everything) == sorted(
        [osp.basename(r) + '.png' for r in rels] +
        [COMPLETE_FILE, 'pseudo_label_stats.json'])
    # identical to an uninterrupted run
    fresh = PseudoLabelHook(dataloader=loader_cfg(root), progress=False,
                            out_root=str(tmp_path / 'fresh'))
    fresh_dir = fresh.label_round(runner, 1, 2).pseudo_label_dir
    assert files_of(fresh_dir) == files_of(out)


def test_complete_round_of_other_weights(target, tmp_path):
    root, _ = target
    hook = PseudoLabelHook(dataloader=loader_cfg(root), progress=False)
    first = make_runner(tmp_path, build_segmentor(seed=0), name='a')
    out = hook.label_round(first, 1, 1).pseudo_label_dir
    meta_a = json.load(open(osp.join(out, COMPLETE_FILE)))
    before = files_of(out)
    # same weights again: reused as is
    hook.label_round(first, 1, 1)
    assert json.load(open(osp.join(out, COMPLETE_FILE))) == meta_a
    # a fresh run with other weights in the same work_dir: refused
    other = make_runner(tmp_path, build_segmentor(seed=1), name='b')
    with pytest.raises(PseudoLabelDirError, match='overwrite'):
        hook.label_round(other, 1, 1)
    assert files_of(out) == before
    # resumed inside the round (iteration past the labels): reused
    inside = make_runner(tmp_path, build_segmentor(seed=1), it=5,
                         resumed=True, name='c')
    assert hook.label_round(inside, 1, 1).pseudo_label_dir == out
    assert json.load(open(osp.join(out, COMPLETE_FILE))) == meta_a
    # overwrite=True replaces it
    forced = PseudoLabelHook(dataloader=loader_cfg(root), progress=False,
                             overwrite=True)
    forced.label_round(other, 1, 1)
    meta_b = json.load(open(osp.join(out, COMPLETE_FILE)))
    assert meta_b['signature']['fingerprint'] != \
        meta_a['signature']['fingerprint']
    # other settings with the same weights: refused too
    fixed = PseudoLabelHook(dataloader=loader_cfg(root), progress=False,
                            policy='fixed')
    with pytest.raises(PseudoLabelDirError, match='policy'):
        fixed.label_round(other, 1, 1)


def test_bad_configuration_fails_before_training(target, tmp_path):
    root, _ = target
    runner = make_runner(tmp_path, build_segmentor(), name='bad')
    with pytest.raises(ValueError, match='pseudo_label_dataloader'):
        PseudoLabelHook().before_run(runner)
    runner5 = make_runner(tmp_path, build_segmentor(num_classes=5),
                          name='bad5')
    with pytest.raises(ValueError, match='predicts 5 classes'):
        PseudoLabelHook(dataloader=loader_cfg(root)).before_run(runner5)
    with pytest.raises(ValueError, match='unknown pseudo-label rule'):
        PseudoLabelHook(policy='nope')


def test_in_the_bidirectional_loop(tmp_path):
    """The real hook in a tiny BDL run: labels before the self-training
    round, the loop's round table reads the kept-pixel ratio."""
    import bdl_tiny  # tests/ helper: an import error fails the test
    root = bdl_tiny.write_bdl_data(str(tmp_path / 'data'))
    kwargs = bdl_tiny.toy_bdl_cfg(root, str(tmp_path / 'work'),
                                  num_rounds=1, num_ssl_rounds=1)
    kwargs['custom_hooks'] = [
        h for h in kwargs['custom_hooks'] if h['type'] != 'ToyPseudoLabelHook'
    ] + [dict(type='PseudoLabelHook', progress=False, dataloader=dict(
        batch_size=2, num_workers=0,
        dataset=dict(
            type='BaseSegDataset', data_root=root,
            metainfo=dict(classes=bdl_tiny.CLASSES), img_suffix='.png',
            seg_map_suffix='.png',
            data_prefix=dict(img_path='tgt/img/train',
                             seg_map_path='tgt/ann/train'),
            pipeline=[dict(type='LoadImageFromFile'),
                      dict(type='LoadAnnotations'),
                      dict(type='PackSegInputs')])))]
    runner = Runner(**kwargs)
    runner.train()
    out = osp.join(runner.work_dir, 'pseudo_labels', 'k1_i1')
    meta = json.load(open(osp.join(out, COMPLETE_FILE)))
    assert meta['num_files'] == 4 and meta['phase'] == 'k1_self_training_i1'
    rows = json.load(open(osp.join(runner.work_dir, 'bdl_rounds.json')))
    rows = rows['rows'] if isinstance(rows, dict) else rows
    ssl = [r for r in rows if r['kind'] == 'self_training']
    assert ssl and ssl[0]['ssl_pixel_ratio'] == pytest.approx(
        meta['stats']['kept_ratio'])
