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


def test_child_locations_cover_the_parents():
    """MMEngine imports only the locations of the registry a lookup starts
    in, so each mmbdl registry must list its parent's too."""
    children = [getattr(R, name) for name in dir(R) if name.isupper()]
    own_roots = (R.PHASE_KINDS, R.LOSS_TERMS)  # mmbdl's own, no parent
    children = [c for c in children if getattr(c, 'scope', '') == 'mmbdl'
                and c not in own_roots]
    assert all(r.parent is None for r in own_roots)
    assert len(children) >= 20
    for child in children:
        name, parent = child.name, child.parent
        own = list(child._locations)
        for loc in parent._locations:
            assert loc in own, f'{name}: parent location {loc} missing'
        assert any(loc.startswith('mmbdl.') for loc in own), name


def test_types_build_in_a_fresh_process_without_register_all_modules():
    """What MMSegmentation's tools/train.py does: set the default scope from
    the config and build through MMEngine's root registries. Nothing calls
    register_all_modules; the lazy locations must find every type."""
    import subprocess
    import sys
    import textwrap
    code = textwrap.dedent("""
        from mmengine.registry import (DefaultScope, HOOKS, METRICS, MODELS,
                                       TRANSFORMS, VISUALIZERS)
        DefaultScope.get_instance('fresh', scope_name='mmbdl')
        built = [
            VISUALIZERS.build(dict(type='SegLocalVisualizer', name='v')),
            HOOKS.build(dict(type='SegVisualizationHook')),
            HOOKS.build(dict(type='PseudoLabelHook')),
            METRICS.build(dict(type='IoUMetric')),
            METRICS.build(dict(type='BDLIoUMetric')),
            TRANSFORMS.build(dict(type='LoadAnnotations')),
            TRANSFORMS.build(dict(type='PackBDLSegInputs')),
            MODELS.build(dict(type='FCDiscriminator', num_classes=2,
                              base_channels=2)),
            MODELS.build(dict(type='mmagic.ResnetGenerator', in_channels=3,
                              out_channels=3, base_channels=4,
                              num_blocks=1)),
        ]
        print('BUILT', *(type(m).__module__.split('.')[0] for m in built))
    """)
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    (line, ) = [ln for ln in out.stdout.splitlines()
                if ln.startswith('BUILT ')]
    assert line.split()[1:] == [
        'mmseg', 'mmseg', 'mmbdl', 'mmseg', 'mmbdl', 'mmseg', 'mmbdl',
        'mmbdl', 'mmagic'
    ]
