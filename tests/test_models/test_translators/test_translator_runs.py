"""BDL runs through tools/train.py with the FDA translator and with a
translator from a plugin file (tests/tiny_colour_translator.py, loaded by
``custom_imports``), on tiny demo data and 2-iteration phases."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from cli_runner import run_tool

from mmbdl.datasets.demo import make_demo_data
from mmbdl.engine.translation import load_image
from mmbdl.models.translators import FDATranslator, fda_source_to_target

# whole demo runs through tools/train.py: out of make test-quick
pytestmark = pytest.mark.slow

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
TARGET_DIR = 'data/demo/cityscapes/leftImg8bit/train'


def train_main(argv):
    """tools/train.py in this process (tests/cli_runner.py: MMEngine's
    loggers and visualizers of one run do not leak into the next), in the
    current directory."""
    result = run_tool('tools/train.py', [str(a) for a in argv],
                      cwd=os.getcwd())
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.fixture
def demo_cwd(tmp_path, monkeypatch):
    make_demo_data(str(tmp_path / 'data' / 'demo'), num_source=4,
                   num_target_train=3, num_target_val=2)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _phases(work):
    return sorted(name[:-4] for name in os.listdir(work)
                  if name.startswith('k') and name.endswith('.pth')
                  and not name.endswith('_best.pth'))


TINY = ['train_cfg.phase_iters.source_only=2',
        'train_cfg.phase_iters.adaptation=2',
        'train_cfg.phase_iters.self_training=2']
FDA_PHASES = ['k0_source_only', 'k1_adaptation', 'k1_self_training_i1',
              'k2_adaptation', 'k2_self_training_i1']


def test_bdl_demo_with_online_fda(demo_cwd):
    work = demo_cwd / 'work'
    train_main([
        osp.join(REPO, 'configs', 'bdl', 'bdl_demo_fda.py'), '--work-dir',
        str(work), '--cfg-options', *TINY
    ])
    # no translation phase for a translator that does not train
    assert _phases(work) == FDA_PHASES
    rows = (work / 'bdl_rounds.md').read_text().splitlines()
    assert sum(row.startswith('| M') for row in rows) == 5
    # FDA translates every batch (tests/test_models/test_algorithms/
    # test_bdl_online_translation.py): no S' is written
    assert not (work / 'translated').exists()


def test_bdl_demo_with_offline_fda(demo_cwd):
    cfg = demo_cwd / 'offline_cfg.py'
    cfg.write_text(f"""
_base_ = [{osp.join(REPO, 'configs', 'bdl', 'bdl_demo_fda.py')!r}]
model = dict(translator=dict(online=False))
train_cfg = dict(translate_source=True)
custom_hooks = [
    dict(type='SourceTranslationHook', kinds=['source_only'],
         img_dir=_base_.translate_cfg.img_dir,
         scale=_base_.translate_cfg.scale, batch_size=8, num_workers=2)
] + _base_.custom_hooks
""")
    work = demo_cwd / 'work'
    train_main([str(cfg), '--work-dir', str(work), '--cfg-options', *TINY])
    assert _phases(work) == FDA_PHASES
    # S' written once after M(0): FDA of each source image (sorted, in one
    # batch) with the targets the seeded draws pick, clipped to uint8
    twin = FDATranslator(target_img_dir=TARGET_DIR,
                         img_suffix='_leftImg8bit.png', beta=0.05, seed=0)
    names = sorted(os.listdir('data/demo/gta5/images'))
    src = torch.stack([
        torch.from_numpy(load_image(osp.join('data/demo/gta5/images', n),
                                    (128, 64))[..., ::-1].copy())
        for n in names
    ]).permute(0, 3, 1, 2).float()
    trg = twin.load_targets(twin.draw_targets(len(names)), (64, 128),
                            torch.device('cpu'))
    expected = fda_source_to_target(src, trg, 0.05).clamp(0, 255).round()
    for idx, name in enumerate(names):
        written = cv2.imread(str(work / 'translated' / 'k0' / name))
        np.testing.assert_array_equal(
            written[..., ::-1].transpose(2, 0, 1),
            expected[idx].to(torch.uint8).numpy())
    assert not (work / 'translated' / 'k1').exists()


def test_a_plugin_translator_trains_through_tools_train(demo_cwd):
    cfg = demo_cwd / 'plugin_cfg.py'
    cfg.write_text(f"""
_base_ = [{osp.join(REPO, 'configs', 'bdl', 'bdl_demo.py')!r}]
custom_imports = dict(imports=['tiny_colour_translator'],
                      allow_failed_imports=False)
model = dict(translator=dict(
    _delete_=True, type='ColourTransformTranslator',
    data_preprocessor=dict(
        type='mmagic.DataPreprocessor', mean=127.5, std=127.5,
        output_channel_order='RGB',
        data_keys=['img_source', 'img_target'])))
optim_wrapper = dict(translation=dict(
    _delete_=True, constructor='MultiSubmoduleOptimWrapperConstructor',
    convs=dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.5))))
""")
    work = demo_cwd / 'work'
    train_main([
        str(cfg), '--work-dir', str(work), '--cfg-options',
        'train_cfg.phase_iters.source_only=1',
        'train_cfg.phase_iters.translation=[2,2]',
        'train_cfg.phase_iters.adaptation=1',
        'train_cfg.phase_iters.self_training=1'
    ])
    assert 'k1_translation' in _phases(work)
    assert 'k2_translation' in _phases(work)
    # F trained: its colour transform left the identity it started from
    state = torch.load(work / 'k2_translation.pth', map_location='cpu',
                       weights_only=False)['state_dict']
    weight = state['translator.convs.target.weight'][..., 0, 0]
    assert not torch.equal(weight, torch.eye(3))
    # S' of both rounds is that transform applied to the source images
    assert sorted(os.listdir(work / 'translated' / 'k1')) == sorted(
        os.listdir('data/demo/gta5/images') + ['.complete.json'])
