"""The FDA configs: the release's three beta, no translation phase, FDA
online (every batch translated, no S' written)."""
import os.path as osp

import pytest
from mmengine.config import Config

from mmbdl.engine.runner.phase_plan import resolve_plan

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
NAME = ('bdl-fda-b0{:02d}_deeplabv2-r101_1xb1-k2n2_gta5-to-cityscapes-'
        '1024x512.py')


@pytest.mark.parametrize('band', [1, 5, 9])
def test_release_beta_and_plan(band):
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'bdl', NAME.format(band)))
    fda = cfg.model.translator
    assert fda.type == 'FDATranslator' and fda.beta == band / 100
    assert fda.target_img_dir == 'data/cityscapes/leftImg8bit/train'
    loop = cfg.train_cfg
    kinds, iters, _, phases = resolve_plan(
        loop.num_rounds, loop.num_ssl_rounds, loop.source_only,
        loop.phase_iters, loop.init, None,
        [h['type'] for h in cfg.custom_hooks], translator_trains=False)
    assert [p.name for p in phases] == [
        'k0_source_only', 'k1_adaptation', 'k1_self_training_i1',
        'k1_self_training_i2', 'k2_adaptation', 'k2_self_training_i1',
        'k2_self_training_i2'
    ]
    assert iters == dict(source_only=80000, adaptation=80000,
                         self_training=120000)
    # online, as the release trains: no S' to write or train on
    assert fda.online is True and loop.translate_source is False
    assert [h['type'] for h in cfg.custom_hooks] == ['PseudoLabelHook']
    assert set(cfg.optim_wrapper) == {'segmentation'}


def test_the_demo_translates_online():
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'bdl',
                                   'bdl_demo_fda.py'))
    assert cfg.model.translator.online is True
    assert cfg.train_cfg.translate_source is False
    assert 'SourceTranslationHook' not in [h['type']
                                           for h in cfg.custom_hooks]


def test_the_cyclegan_plan_keeps_its_translation_phases():
    cfg = Config.fromfile(osp.join(
        REPO, 'configs', 'bdl',
        'bdl_deeplabv2-r101_1xb1-k2n2_gta5-to-cityscapes-1024x512.py'))
    loop = cfg.train_cfg
    _, _, _, phases = resolve_plan(
        loop.num_rounds, loop.num_ssl_rounds, loop.source_only,
        loop.phase_iters, loop.init, None,
        [h['type'] for h in cfg.custom_hooks])
    assert [p.name for p in phases if p.kind == 'translation'] == [
        'k1_translation', 'k2_translation'
    ]
