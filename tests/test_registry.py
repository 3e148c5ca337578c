"""Modules of mmseg, mmbdl and MMagic build from configs in the mmbdl scope."""
import torch
from mmengine.registry import DefaultScope

from mmbdl import registry as R


def test_registries_are_children_of_mmseg():
    from mmseg import registry as S
    for name in ('MODELS', 'DATASETS', 'TRANSFORMS', 'HOOKS', 'LOOPS',
                 'OPTIM_WRAPPER_CONSTRUCTORS', 'METRICS', 'VISUALIZERS',
                 'PARAM_SCHEDULERS', 'DATA_SAMPLERS', 'OPTIM_WRAPPERS'):
        child, parent = getattr(R, name), getattr(S, name)
        assert child.scope == 'mmbdl'
        assert child.parent is parent, name
        assert child._locations, f'{name} has no lazy locations'


def test_default_scope_is_mmbdl():
    assert DefaultScope.get_current_instance().scope_name == 'mmbdl'


def test_mmseg_module_builds_under_mmbdl_scope():
    model = R.MODELS.build(
        dict(
            type='EncoderDecoder',
            backbone=dict(type='ResNetV1c', depth=18, num_stages=1,
                          out_indices=(0, ), stem_channels=8,
                          base_channels=8, strides=(1, ), dilations=(1, )),
            decode_head=dict(type='FCNHead', in_channels=8, channels=4,
                             num_classes=2, num_convs=1,
                             concat_input=False)))
    assert type(model).__module__.startswith('mmseg.')
    out = model(torch.rand(1, 3, 16, 16), mode='tensor')
    assert out.shape == (1, 2, 4, 4)


def test_mmagic_module_builds_with_prefix():
    gen = R.MODELS.build(
        dict(type='mmagic.ResnetGenerator', in_channels=3, out_channels=3,
             base_channels=4, num_blocks=1))
    assert type(gen).__module__.startswith('mmagic.')
    assert gen(torch.rand(1, 3, 16, 16)).shape == (1, 3, 16, 16)


def test_mmbdl_module_builds_and_wins_over_parents():
    disc = R.MODELS.build(dict(type='FCDiscriminator', num_classes=19))
    assert type(disc).__module__.startswith('mmbdl.')
    assert sum(p.numel() for p in disc.parameters()) == 2781121
    metric = R.METRICS.build(dict(type='BDLIoUMetric'))
    assert type(metric).__module__.startswith('mmbdl.')
