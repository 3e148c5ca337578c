"""Every file under configs/ loads, names registered types and builds.

A config that defines ``model`` has it built at full size (the release's
models build in about a second each on the CPU, so no shrinking is needed).
Every ``type`` name anywhere in a config (datasets, transforms, hooks,
loops, optimizers, ...) must resolve in the mmbdl registries or their
parents. No file is excluded.
"""
import glob
import os.path as osp

import pytest
from mmengine.config import Config, ConfigDict

from mmbdl import registry as R
from mmbdl.models.algorithms.bdl import follow_segmentor

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    osp.relpath(p, REPO)
    for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                       recursive=True))
REGISTRIES = [
    getattr(R, name) for name in dir(R) if name.isupper()
    and hasattr(getattr(R, name), 'get')
]


def iter_types(node, path='cfg'):
    """Yield (path, type name) for every string ``type`` in a config."""
    if isinstance(node, (dict, ConfigDict)):
        if isinstance(node.get('type'), str):
            yield path, node['type']
        for key, value in node.items():
            yield from iter_types(value, f'{path}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from iter_types(value, f'{path}[{i}]')


def resolves(type_name: str) -> bool:
    for registry in REGISTRIES:
        try:
            if registry.get(type_name) is not None:
                return True
        except Exception:  # noqa: BLE001 - a lookup miss in that registry
            continue
    return False


def test_there_are_configs():
    assert any(p.startswith(osp.join('configs', 'bdl')) for p in CONFIGS)
    assert osp.join('configs', '_base_', 'default_runtime.py') in CONFIGS


@pytest.mark.parametrize('path', CONFIGS)
def test_config_loads_and_builds(path):
    cfg = Config.fromfile(osp.join(REPO, path))
    assert cfg.get('default_scope', 'mmbdl') == 'mmbdl', path
    unknown = [f'{where}={name}' for where, name in iter_types(cfg._cfg_dict)
               if not resolves(name)]
    assert not unknown, f'{path}: unregistered types {unknown}'
    if 'model' in cfg and isinstance(cfg.model, (dict, ConfigDict)) and \
            'type' in cfg.model:
        model = R.MODELS.build(cfg.model)
        assert sum(p.numel() for p in model.parameters()) > 0, path


LEAVES = [p for p in CONFIGS if p.startswith(osp.join('configs', 'bdl'))]


@pytest.mark.parametrize('path', LEAVES)
def test_leaf_imports_mmbdl(path):
    """Any entry point (MMSegmentation's tools, mim) finds mmbdl."""
    cfg = Config.fromfile(osp.join(REPO, path))
    assert 'mmbdl' in cfg.custom_imports.imports, path
    assert cfg.custom_imports.get('allow_failed_imports', False) is False


def test_unimportable_custom_import_is_named(tmp_path):
    cfg_file = tmp_path / 'bad_import.py'
    cfg_file.write_text(
        "_base_ = ['{}']\ncustom_imports = dict(imports=["
        "'mmbdl', 'mmbdl_no_such_module'], allow_failed_imports=False)\n"
        .format(osp.join(REPO, 'configs', '_base_', 'default_runtime.py')))
    with pytest.raises(ImportError, match='mmbdl_no_such_module'):
        Config.fromfile(str(cfg_file))


def _test_resize(cfg):
    """The Resize of the config's test pipeline (the test scale)."""
    resizes = [t for t in cfg.test_dataloader.dataset.pipeline
               if t.type == 'Resize']
    assert len(resizes) == 1
    return resizes[0]


SEG_CONFIGS = [
    p for p in CONFIGS
    if Config.fromfile(osp.join(REPO, p)).get('test_dataloader')
]


def test_segmentation_configs_are_found():
    assert len(SEG_CONFIGS) >= 20
    assert osp.join('configs', 'bdl', 'bdl_demo.py') in SEG_CONFIGS


@pytest.mark.parametrize('path', SEG_CONFIGS)
def test_tta_pipeline_flips_and_rescales_the_test_scale(path):
    """tools/test.py --tta: MMSegmentation's Cityscapes recipe (scales 0.5
    to 1.75, each plain and flipped) around the config's own test scale,
    with the test pipeline's interpolation, and BDL's TTA model (no second
    softmax)."""
    cfg = Config.fromfile(osp.join(REPO, path))
    if path in LEAVES:  # data set bases carry no runtime
        assert cfg.tta_model.type == 'BDLSegTTAModel', path
    test_resize = _test_resize(cfg)
    load, tta = cfg.tta_pipeline
    assert load.type == 'LoadImageFromFile' and tta.type == 'TestTimeAug'
    resizes, flips, annotations, pack = tta.transforms
    w, h = test_resize.scale
    assert [tuple(r.scale) for r in resizes] == [
        (round(w * r), round(h * r))
        for r in (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)
    ], path
    for r in resizes:
        assert r.keep_ratio is False
        assert (r.interpolation, r.backend) == (test_resize.interpolation,
                                                test_resize.backend)
    assert sorted(f.prob for f in flips) == [0.0, 1.0]
    assert {f.direction for f in flips} == {'horizontal'}
    # labels at full resolution, as in the test pipeline
    assert [t.type for t in annotations] == ['LoadAnnotations']
    assert [t.type for t in pack] == ['PackSegInputs']


def _leaf(bb, src):
    return Config.fromfile(osp.join(
        REPO, 'configs', 'bdl',
        f'bdl_{bb}_1xb1-k2n2_{src}-to-cityscapes-1024x512.py'))


@pytest.mark.parametrize('bb', ['deeplabv2-r101', 'fcn8s-vgg16'])
def test_bdl_leaves_share_the_backbone_definition(bb):
    """One definition per idea: the GTA5 and SYNTHIA leaves of a backbone
    get the same model, optimizers and segmentation schedules."""
    gta5, synthia = _leaf(bb, 'gta5'), _leaf(bb, 'synthia')
    assert gta5.model == synthia.model
    assert gta5.optim_wrapper == synthia.optim_wrapper
    assert gta5.param_scheduler.segmentation == \
        synthia.param_scheduler.segmentation
    assert gta5.model.translator.perceptual_model == dict(
        follow_segmentor=True)
    built = follow_segmentor(gta5.model.translator.to_dict(),
                             gta5.model.segmentor.to_dict())
    assert built['perceptual_model'] == gta5.model.segmentor.segmentor
    src = {'gta5': gta5, 'synthia': synthia}
    for name, cfg in src.items():
        assert cfg.train_dataloader.dataset.source.data_root == \
            f'data/{name}'
    assert synthia.train_cfg.phase_iters.translation == 20 * 2350
    assert gta5.train_cfg.phase_iters.translation == 20 * 6242


@pytest.mark.parametrize('src', ['gta5', 'synthia'])
def test_bdl_leaves_share_the_data_definition(src):
    """... and the two backbones of a source get the same data, loop,
    budgets and hooks."""
    deeplab, fcn = _leaf('deeplabv2-r101', src), _leaf('fcn8s-vgg16', src)
    for key in ('train_cfg', 'train_dataloader', 'val_dataloader',
                'pseudo_label_dataloader', 'custom_hooks', 'default_hooks',
                'translate_cfg'):
        assert deeplab[key] == fcn[key], key
    assert deeplab.param_scheduler.translation == \
        fcn.param_scheduler.translation
    hook = deeplab.custom_hooks[0]
    assert hook.type == 'SourceTranslationHook'
    assert hook.img_dir == deeplab.translate_cfg.img_dir
    assert tuple(hook.scale) == tuple(deeplab.translate_cfg.scale)
    translation = deeplab.train_cfg.phase_dataloaders.translation.dataset
    assert translation.data_prefix.source == osp.relpath(
        deeplab.translate_cfg.img_dir, translation.data_root)


@pytest.mark.parametrize('bb', ['deeplabv2-r101', 'fcn8s-vgg16'])
@pytest.mark.parametrize('src, iters_per_epoch', [('gta5', 6242),
                                                  ('synthia', 2350)])
def test_phase_relative_schedules_give_the_release_iterations(
        bb, src, iters_per_epoch):
    """The schedules are fractions of their phase; at the release's budgets
    they resolve to the release's absolute iterations."""
    from mmbdl.engine.optimizers.phase_relative_schedule import \
        resolve_phase_relative
    from mmbdl.engine.runner.phase_plan import lookup
    cfg = _leaf(bb, src)
    iters = cfg.train_cfg.phase_iters
    assert dict(iters) == dict(source_only=80000, adaptation=80000,
                               self_training=120000,
                               translation=20 * iters_per_epoch)

    def resolved(kind):
        (sched, ) = resolve_phase_relative(
            lookup(cfg.param_scheduler, kind), iters[kind])
        return sched

    translation = resolved('translation')
    assert translation['type'] == 'LinearLR'
    assert (translation['begin'], translation['end']) == (
        10 * iters_per_epoch, 20 * iters_per_epoch)
    for kind in ('source_only', 'adaptation', 'self_training'):
        sched = resolved(kind)
        assert sched['begin'] == 0, kind
        if bb == 'deeplabv2-r101':
            assert (sched['type'], sched['power']) == ('PolyLR', 0.9)
            assert sched['end'] == 250000, kind
        else:
            assert (sched['type'], sched['gamma']) == ('StepLR', 0.1)
            assert sched['step_size'] == 50000, kind
            assert sched['end'] == iters[kind], kind


EVAL_CONFIGS = [
    p for p in SEG_CONFIGS if Config.fromfile(osp.join(REPO, p)).get('model')
]


def test_evaluable_configs_are_found():
    assert len(EVAL_CONFIGS) >= 20
    assert osp.join('configs', 'bdl', 'bdl_demo.py') in EVAL_CONFIGS


@pytest.mark.parametrize('path', EVAL_CONFIGS)
def test_evaluation_refuses_partial_checkpoints(path):
    """MMSegmentation's test.py / ``mim test`` run the configs' hooks only:
    each evaluable config checks its checkpoint through
    ``default_hooks.weights_check``; the BDL loop checks the training loads
    itself, so its configs switch the hook's training checks off."""
    cfg = Config.fromfile(osp.join(REPO, path))
    check = (cfg.get('default_hooks') or {}).get('weights_check')
    assert check is not None and check['type'] == 'WeightsCheckHook'
    assert not check.get('allow_partial', False)
    in_loop = cfg.get('train_cfg', {}).get('type') == \
        'BidirectionalTrainLoop'
    assert check.get('check_training', True) is not in_loop
