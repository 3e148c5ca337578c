"""tools/analysis/demo_grid.py on the demo config: the grid's rows, sizes and
pixels, a run that stopped early, and its refusals."""
import glob
import os
import os.path as osp
import subprocess
import sys
import time

import mmcv
import numpy as np
import pytest
import torch
from PIL import Image

from mmbdl.datasets.label_maps import CITYSCAPES_PALETTE
from mmbdl.visualization import (GridLayout, caption_width, colourise,
                                 compose_grid, fit_tile)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO_CFG = osp.join(REPO, 'configs', 'bdl', 'bdl_demo.py')
TOOL = osp.join(REPO, 'tools', 'analysis', 'demo_grid.py')
TILE = (256, 128)  # the demo's 128x64 images, x2
# the phases whose checkpoints the fixture writes, and the seed of each
# checkpoint's weights (every phase checkpoint holds the whole BDL model)
SEEDS = dict(k0_source_only=0, k1_translation=1, k2_translation=2,
             k1_adaptation=3, k2_self_training_i1=4)


def run_tool(*args, cwd, check=True):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    start = time.time()
    proc = subprocess.run([sys.executable, TOOL, DEMO_CFG, *args], cwd=cwd,
                          env=env, capture_output=True, text=True,
                          timeout=600)
    proc.seconds = time.time() - start
    if check and proc.returncode != 0:
        raise AssertionError(
            f'{args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}')
    return proc


def kron2(img):
    return np.kron(img, np.ones((2, 2, 1), np.uint8))


def paint(label):
    """Train ids in Cityscapes colours (BGR), ignore black (test's own)."""
    lut = np.zeros((256, 3), np.uint8)
    lut[:19] = np.array(CITYSCAPES_PALETTE, np.uint8)[:, ::-1]
    return lut[label]


def tiles(grid, layout, row, cols):
    w, h = layout.tile
    return [grid[y:y + h, x:x + w] for x, y in
            (layout.origin(row, c) for c in range(cols))]


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    """Demo data under a temporary cwd, a work dir with the phase
    checkpoints of a finished K=2, N=1 run, and the models saved in them."""
    from mmengine.config import Config

    from mmbdl.datasets.demo import make_demo_data
    from mmbdl.engine.runner import plan_phases
    from mmbdl.registry import MODELS
    cwd = tmp_path_factory.mktemp('grid')
    make_demo_data(str(cwd / 'data' / 'demo'), num_source=4,
                   num_target_train=2, num_target_val=5)
    cfg = Config.fromfile(DEMO_CFG)
    names = [p.name for p in plan_phases(2, 1, True, dict(
        source_only=1, translation=1, adaptation=1, self_training=1))]
    assert set(SEEDS) <= set(names)  # the loop's names for its phases
    work = cwd / 'work'
    work.mkdir()
    models = {}
    for name, seed in SEEDS.items():
        torch.manual_seed(seed)
        models[name] = MODELS.build(cfg.model).eval()
        torch.save(dict(state_dict=models[name].state_dict(),
                        meta=dict(iter=seed)), work / f'{name}.pth')
    return cwd, work, models


def test_grid_of_a_finished_run(demo):
    from mmbdl.apis import BDLSegInferencer
    from mmbdl.engine.translation import ImageTranslator, load_image
    cwd, work, models = demo
    proc = run_tool(str(work), cwd=cwd)
    print(f'demo_grid.py took {proc.seconds:.1f} s')
    out = work / 'demo_grid.png'
    assert proc.stdout.rstrip().splitlines()[-1] == f'demo grid: {out}'
    captions = ['source scene', 'F(1)(source)', 'F(2)(source)',
                'target scene', 'target label', 'M(0)',
                'final M\nk2_self_training_i1']
    assert 'rows: ' + ', '.join(c.replace('\n', ' ') for c in captions) \
        in proc.stdout
    assert 'note:' not in proc.stdout  # the last phase's checkpoint exists
    grid = mmcv.imread(str(out))
    layout = GridLayout(TILE, caption_width(captions))
    assert (grid.shape[1], grid.shape[0]) == layout.size(7, 4)
    assert grid.shape[0] == 7 * (128 + 2) + 2

    # the scenes: val images 0, 1, 3, 4 of 5 (evenly spaced, both ends) and
    # all 4 source images, in sorted order
    vals = sorted(glob.glob(str(
        cwd / 'data/demo/cityscapes/leftImg8bit/val/*/*.png')))
    vals = [vals[i] for i in (0, 1, 3, 4)]
    assert 'scenes: ' + ', '.join(osp.basename(v) for v in vals) \
        in proc.stdout
    sources = sorted(glob.glob(str(cwd / 'data/demo/gta5/images/*.png')))
    src = [load_image(p, (128, 64)) for p in sources]
    for got, img in zip(tiles(grid, layout, 0, 4), src):
        np.testing.assert_array_equal(got, kron2(img))
    # F(k)(source): the translator saved in k<k>_translation.pth
    for row, name in ((1, 'k1_translation'), (2, 'k2_translation')):
        translate = ImageTranslator(models[name].translator)
        for got, img in zip(tiles(grid, layout, row, 4), src):
            np.testing.assert_array_equal(got, kron2(translate([img])[0]))
    assert not np.array_equal(tiles(grid, layout, 1, 1)[0],
                              tiles(grid, layout, 2, 1)[0])
    for got, path in zip(tiles(grid, layout, 3, 4), vals):
        np.testing.assert_array_equal(got, kron2(mmcv.imread(path)))
    for got, path in zip(tiles(grid, layout, 4, 4), vals):
        gt = path.replace('leftImg8bit', 'gtFine', 1).replace(
            '_leftImg8bit.png', '_gtFine_labelTrainIds.png')
        label = np.array(Image.open(gt))
        assert (label == 255).any()  # ignore pixels: black
        np.testing.assert_array_equal(got, kron2(paint(label)))
    # M(0) and the final M: what the inferencer (tools/infer.py's) predicts
    # with each checkpoint, in Cityscapes colours
    painted = {}
    for row, name in ((5, 'k0_source_only'), (6, 'k2_self_training_i1')):
        inferencer = BDLSegInferencer(DEMO_CFG, str(work / f'{name}.pth'),
                                      device='cpu')
        preds = inferencer.predict([mmcv.imread(v) for v in vals])
        painted[name] = [
            kron2(paint(p.pred_sem_seg.data[0].numpy().astype(np.uint8)))
            for p in preds]
        for got, want in zip(tiles(grid, layout, row, 4), painted[name]):
            np.testing.assert_array_equal(got, want)
    assert not np.array_equal(painted['k0_source_only'][0],
                              painted['k2_self_training_i1'][0])
    # the caption column is drawn (black text on white)
    assert (grid[:, :layout.caption_width] < 100).any()


def test_unfinished_run_and_options(demo, tmp_path):
    from mmbdl.engine.translation import ImageTranslator, load_image
    cwd, work, models = demo
    part = tmp_path / 'part'
    part.mkdir()
    for name in ('k0_source_only', 'k1_translation', 'k1_adaptation'):
        os.symlink(work / f'{name}.pth', part / f'{name}.pth')
    out = tmp_path / 'pictures' / 'g.png'
    # another run's F beside this run's: here the k2 translator stands in
    # for an F trained without the perceptual loss
    proc = run_tool(str(part), '--out', str(out), '--num-scenes', '2',
                    '--scale', '1', '--compare-translator',
                    str(work / 'k2_translation.pth'), '--compare-caption',
                    'F(1) no perceptual', cwd=cwd)
    captions = ['source scene', 'F(1)(source)', 'F(1) no perceptual',
                'target scene', 'target label', 'M(0)',
                'final M\nk1_adaptation']
    assert 'rows: ' + ', '.join(c.replace('\n', ' ') for c in captions) \
        in proc.stdout
    assert 'note: the run is unfinished (k2_self_training_i1.pth missing)' \
        in proc.stdout
    assert proc.stdout.rstrip().endswith(f'demo grid: {out}')
    grid = mmcv.imread(str(out))
    layout = GridLayout((128, 64), caption_width(captions))
    assert (grid.shape[1], grid.shape[0]) == layout.size(7, 2)
    sources = sorted(glob.glob(str(cwd / 'data/demo/gta5/images/*.png')))
    src = [load_image(sources[i], (128, 64)) for i in (0, 3)]
    for row, name in ((1, 'k1_translation'), (2, 'k2_translation')):
        translate = ImageTranslator(models[name].translator)
        for got, img in zip(tiles(grid, layout, row, 2), src):
            np.testing.assert_array_equal(got, translate([img])[0])
    assert not (part / 'demo_grid.png').exists()
    assert not [p for p in os.listdir(out.parent) if p != 'g.png']  # no tmp
    # the default caption names the file; a missing checkpoint is refused
    proc = run_tool(str(part), '--out', str(out), '--num-scenes', '1',
                    '--scale', '1', '--compare-translator',
                    str(work / 'k2_translation.pth'), cwd=cwd)
    assert 'F(compared) k2_translation.pth' in proc.stdout
    proc = run_tool(str(part), '--compare-translator',
                    str(tmp_path / 'none.pth'), cwd=cwd, check=False)
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr
    assert f'error: --compare-translator {tmp_path}/none.pth does not ' \
        'exist' in proc.stderr


def test_missing_work_dir_and_m0_checkpoint(demo, tmp_path):
    cwd, work, _ = demo
    missing = tmp_path / 'nowhere'
    proc = run_tool(str(missing), cwd=cwd, check=False)
    lines = [x for x in proc.stderr.splitlines() if x.startswith('error:')]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert f'work dir {missing} does not exist' in lines[0]
    assert 'tools/train.py' in lines[0] and 'Traceback' not in proc.stderr
    no_m0 = tmp_path / 'no_m0'
    no_m0.mkdir()
    os.symlink(work / 'k1_translation.pth', no_m0 / 'k1_translation.pth')
    proc = run_tool(str(no_m0), cwd=cwd, check=False)
    lines = [x for x in proc.stderr.splitlines() if x.startswith('error:')]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert f'error: {no_m0}/k0_source_only.pth (M(0), the source-only ' \
        'phase) does not exist' in lines[0]
    assert not (no_m0 / 'demo_grid.png').exists()


def test_colourise_fit_tile_and_compose():
    palette = [[10, 20, 30], [40, 50, 60]]
    label = np.array([[0, 1], [255, 7]])
    bgr = colourise(label, palette)
    assert bgr.dtype == np.uint8 and bgr.shape == (2, 2, 3)
    np.testing.assert_array_equal(bgr[0, 0], [30, 20, 10])  # BGR
    np.testing.assert_array_equal(bgr[0, 1], [60, 50, 40])
    np.testing.assert_array_equal(bgr[1], 0)  # no class: black
    big = fit_tile(bgr, (4, 4), is_label=True)
    np.testing.assert_array_equal(big, np.kron(bgr, np.ones((2, 2, 1),
                                                            np.uint8)))
    img = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
    assert fit_tile(img, (2, 2)).shape == (2, 2, 3)  # shrunk: area
    layout = GridLayout((4, 4), caption_width(['a', 'bb\nc']), pad=1)
    grid = compose_grid([[big, big], [big]], ['a', 'bb\nc'], layout)
    assert (grid.shape[1], grid.shape[0]) == layout.size(2, 2)
    x, y = layout.origin(1, 0)
    np.testing.assert_array_equal(grid[y:y + 4, x:x + 4], big)
    assert (grid[y:y + 4, x + 5:] == 255).all()  # the missing tile: white
    with pytest.raises(ValueError, match='not 4x4'):
        compose_grid([[img[:3]]], ['x'], layout)
