"""TranslationVisualizationHook: grid content, files and visualizer."""
import os.path as osp
from types import SimpleNamespace

import mmcv
import numpy as np
import pytest
import torch
from mmengine.visualization import LocalVisBackend, Visualizer
from tiny_translator import build_translator, make_batch, tiny_translator_cfg

from mmbdl.engine.hooks import TranslationVisualizationHook
from mmbdl.registry import HOOKS


@pytest.fixture(scope='module')
def translator():
    return build_translator(tiny_translator_cfg(perceptual=False), seed=5)


def _runner(tmp_path, model, it):
    vis = Visualizer(
        name=f'vis_{tmp_path.name}_{it}',
        vis_backends=[dict(type='LocalVisBackend')],
        save_dir=str(tmp_path / 'vis'))
    return SimpleNamespace(work_dir=str(tmp_path), model=model, iter=it,
                           visualizer=vis)


def _rgb(t):
    return (t * 127.5 + 127.5).clamp(0, 255).round().to(
        torch.uint8).permute(1, 2, 0).numpy()


def test_grid_every_interval_to_work_dir_and_visualizer(tmp_path,
                                                        translator):
    hook = HOOKS.build(dict(type='TranslationVisualizationHook', interval=5,
                            max_samples=2))
    assert isinstance(hook, TranslationVisualizationHook)
    batch = make_batch(batch_size=3, size=16, seed=1)
    # iteration 3 (4th) is not due
    hook.after_train_iter(_runner(tmp_path, translator, 3), 0, batch)
    assert not osp.exists(tmp_path / 'translation_vis')

    runner = _runner(tmp_path, translator, 4)
    hook.after_train_iter(runner, 0, batch)
    path = tmp_path / 'translation_vis' / 'iter_5.png'
    grid = mmcv.imread(str(path), channel_order='rgb')
    # 2 samples x 2 directions rows, 3 columns of 16 px with 4 px gaps
    assert grid.shape == (4 * 16 + 3 * 4, 3 * 16 + 2 * 4, 3)
    data = translator.data_preprocessor(make_batch(3, 16, seed=1), True)
    real_s = data['inputs']['img_source']
    real_t = data['inputs']['img_target']
    with torch.no_grad():
        fake_t = translator.translation(real_s, target_domain='target')
        rec_s = translator.translation(fake_t, target_domain='source')
        fake_s = translator.translation(real_t, target_domain='source')
    cell = lambda r, c: grid[r * 20:r * 20 + 16, c * 20:c * 20 + 16]  # noqa
    np.testing.assert_array_equal(cell(0, 0), _rgb(real_s[0]))
    np.testing.assert_array_equal(cell(0, 1), _rgb(fake_t[0]))
    np.testing.assert_array_equal(cell(0, 2), _rgb(rec_s[0]))
    np.testing.assert_array_equal(cell(1, 1), _rgb(fake_t[1]))
    np.testing.assert_array_equal(cell(2, 0), _rgb(real_t[0]))
    np.testing.assert_array_equal(cell(2, 1), _rgb(fake_s[0]))
    # real images come back as the uint8 input (BGR loaded -> RGB shown)
    np.testing.assert_array_equal(
        cell(0, 0), batch['inputs'][0]['img_source'].permute(
            1, 2, 0).numpy()[..., ::-1])
    # the same grid went to the visualizer backends
    backend = runner.visualizer.get_backend('LocalVisBackend')
    assert isinstance(backend, LocalVisBackend)
    vis_file = osp.join(backend._img_save_dir, 'translation_5.png')
    np.testing.assert_array_equal(
        mmcv.imread(vis_file, channel_order='rgb'), grid)


def test_ignores_segmentation_batches(tmp_path, translator):
    hook = TranslationVisualizationHook(interval=1, save_dir='v')
    seg_batch = dict(inputs=dict(source=[torch.zeros(3, 8, 8)],
                                 target=[torch.zeros(3, 8, 8)]),
                     data_samples=dict(source=[], target=[]))
    hook.after_train_iter(_runner(tmp_path, translator, 0), 0, seg_batch)
    hook.after_train_iter(_runner(tmp_path, translator, 0), 0, None)
    assert not osp.exists(tmp_path / 'v')


def test_bad_arguments():
    with pytest.raises(ValueError):
        TranslationVisualizationHook(interval=0)
