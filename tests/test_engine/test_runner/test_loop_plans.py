"""The paper configs' plans and the round table's format (no training)."""
import os.path as osp

import pytest

from mmbdl.engine.runner import plan_phases
from mmbdl.evaluation.round_table import find_pixel_ratio, format_round_table
from mmbdl.models.algorithms.bdl import follow_segmentor


def test_round_table_formatting():
    rows = [
        dict(model='M^(0)', mIoU=30.0, per_class=dict(road=50.0, car=10.0),
             ssl_pixel_ratio=None),
        dict(model='M_1^(1)(F^(1))', mIoU=42.5,
             per_class=dict(road=70.0, car=15.0), ssl_pixel_ratio=0.79),
    ]
    table = format_round_table(rows, ['road', 'sidewalk', 'car'])
    lines = table.splitlines()
    assert lines[0] == '| model | road | car | mIoU | gain | SSL pixel ratio |'
    assert lines[2] == '| M^(0) | 50.0 | 10.0 | 30.0 | - | - |'
    assert lines[3] == '| M_1^(1)(F^(1)) | 70.0 | 15.0 | 42.5 | +12.5 | 79% |'
    assert find_pixel_ratio(dict(pixel_ratio=0.5)) == 0.5
    assert find_pixel_ratio(dict(kept_ratio=dict(overall=0.25))) == 0.25
    assert find_pixel_ratio(None) is None


@pytest.mark.parametrize('name, translation_iters', [
    ('bdl_deeplabv2-r101_1xb1-k2n2_gta5-to-cityscapes-1024x512.py', 124840),
    ('bdl_fcn8s-vgg16_1xb1-k2n2_gta5-to-cityscapes-1024x512.py', 124840),
    ('bdl_deeplabv2-r101_1xb1-k2n2_synthia-to-cityscapes-1024x512.py',
     47000),
    ('bdl_fcn8s-vgg16_1xb1-k2n2_synthia-to-cityscapes-1024x512.py', 47000),
])
def test_paper_configs_plan_the_release_schedule(name, translation_iters):
    from mmengine.config import Config
    repo = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
        osp.abspath(__file__)))))
    cfg = Config.fromfile(osp.join(repo, 'configs', 'bdl', name))
    loop = cfg.train_cfg
    assert loop.type == 'BidirectionalTrainLoop'
    assert (loop.num_rounds, loop.num_ssl_rounds) == (2, 2)
    phases = plan_phases(loop.num_rounds, loop.num_ssl_rounds,
                         loop.source_only, loop.phase_iters)
    assert [p.name for p in phases] == [
        'k0_source_only', 'k1_translation', 'k1_adaptation',
        'k1_self_training_i1', 'k1_self_training_i2', 'k2_translation',
        'k2_adaptation', 'k2_self_training_i1', 'k2_self_training_i2'
    ]
    iters = {p.kind: p.iters for p in phases}
    assert iters == dict(source_only=80000, translation=translation_iters,
                         adaptation=80000, self_training=120000)
    assert set(cfg.optim_wrapper) == {'translation', 'segmentation'}
    assert set(cfg.optim_wrapper.segmentation) >= {'segmentor',
                                                   'discriminator'}
    assert set(cfg.optim_wrapper.translation) >= {'generators',
                                                  'discriminators'}
    assert cfg.model.type == 'BDL'
    assert cfg.model.translator.perceptual_model == dict(
        follow_segmentor=True)
    assert follow_segmentor(
        cfg.model.translator.to_dict(),
        cfg.model.segmentor.to_dict())['perceptual_model'] == \
        cfg.model.segmentor.segmentor
    assert cfg.model_wrapper_cfg.type == 'BDLDistributedDataParallel'
    hooks = [h.type for h in cfg.custom_hooks]
    assert hooks == ['SourceTranslationHook', 'PseudoLabelHook']
