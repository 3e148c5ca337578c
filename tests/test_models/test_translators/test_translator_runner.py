"""A real MMEngine Runner trains the tiny PerceptualCycleGAN for a few
iterations (32x32 crops), with M loaded from a checkpoint, the schedule and
the visualisation hook."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.runner import Runner
from tiny_translator import (build_translator, tiny_segmentor_cfg,
                             tiny_translator_cfg, write_images)

from mmbdl.registry import MODELS

# trains or compares whole steps of real models: make test-quick leaves
# it out (tests/conftest.py, the slow marker)
pytestmark = pytest.mark.slow


def test_runner_trains_translator(tmp_path):
    root = tmp_path / 'data'
    write_images(str(root / 'gta'), [(40, 36)] * 3, seed=1)
    write_images(str(root / 'city'), [(36, 40)] * 2, seed=2)
    torch.manual_seed(0)
    segmentor = MODELS.build(tiny_segmentor_cfg())
    segmentor.init_weights()
    m_ckpt = tmp_path / 'm0.pth'
    torch.save({'state_dict': segmentor.state_dict()}, m_ckpt)

    load = lambda key: dict(type='mmagic.LoadImageFromFile', key=key)  # noqa
    pipeline = [
        load('img_source'), load('img_target'),
        dict(type='mmagic.Resize', keys=['img_source', 'img_target'],
             scale=(32, 32)),
        dict(type='mmagic.Flip', keys=['img_source'],
             direction='horizontal'),
        dict(type='mmagic.PackInputs', keys=['img_source', 'img_target'],
             data_keys=['img_source', 'img_target']),
    ]
    model = tiny_translator_cfg(perceptual_checkpoint=str(m_ckpt))
    optim = dict(type='OptimWrapper',
                 optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999)))
    runner = Runner(
        model=model,
        work_dir=str(tmp_path / 'work'),
        train_dataloader=dict(
            batch_size=2, num_workers=0,
            sampler=dict(type='InfiniteSampler', shuffle=True),
            collate_fn=dict(type='pseudo_collate'),
            dataset=dict(type='UnpairedDataset', data_root=str(root),
                         data_prefix=dict(source='gta', target='city'),
                         pipeline=pipeline)),
        optim_wrapper=dict(constructor='mmagic.MultiOptimWrapperConstructor',
                           generators=copy.deepcopy(optim),
                           discriminators=copy.deepcopy(optim)),
        param_scheduler=[dict(type='LinearLR', start_factor=1.0,
                              end_factor=0.0, by_epoch=False, begin=2,
                              end=4)],
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=4),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook',
                                           interval=4, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[dict(type='TranslationVisualizationHook', interval=2)],
        default_scope='mmbdl',
        randomness=dict(seed=0))
    runner.train()

    net = runner.model
    assert bool(net.perceptual_loaded)
    for key, value in segmentor.state_dict().items():
        assert torch.equal(net.perceptual_model.state_dict()[key], value), key
    hub = runner.message_hub
    for key in ('loss_per_source', 'loss_per_recon_target', 'cycle_loss',
                'loss_gan_d_source'):
        assert hub.get_scalar(f'train/{key}').current() > 0, key
    # lr: 2e-4 for iterations 0-2, then linearly to 0
    lrs = hub.get_scalar('train/generators.lr').data[0]
    assert list(lrs[:3]) == [2e-4] * 3 and lrs[3] < 2e-4
    for it in (2, 4):
        assert osp.isfile(tmp_path / 'work' / 'translation_vis' /
                          f'iter_{it}.png')
    # the checkpoint restores translator and M without the M checkpoint
    ckpt = torch.load(tmp_path / 'work' / 'iter_4.pth', weights_only=False)
    fresh = build_translator(tiny_translator_cfg(), seed=9,
                             load_perceptual=False)
    fresh.load_state_dict(ckpt['state_dict'])
    assert bool(fresh.perceptual_loaded)
    for key, value in net.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key


def test_empty_image_folder_fails_before_training(tmp_path):
    """The translator's data set refuses an empty source or target folder
    when it is built, i.e. before the first iteration."""
    from mmbdl.registry import DATASETS
    write_images(str(tmp_path / 'gta'), [(8, 8)], seed=1)
    (tmp_path / 'city').mkdir()
    (tmp_path / 'city' / 'notes.txt').write_text('no images here')
    with pytest.raises(ValueError, match='no target image') as err:
        DATASETS.build(dict(type='UnpairedDataset', data_root=str(tmp_path),
                            data_prefix=dict(source='gta', target='city')))
    assert 'city' in str(err.value)
    with pytest.raises(FileNotFoundError):
        DATASETS.build(dict(type='UnpairedDataset', data_root=str(tmp_path),
                            data_prefix=dict(source='gta', target='none')))
