"""tools/infer.py on demo images, a folder with a broken file and a video."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from cli_runner import run_script
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO_CFG = osp.join(REPO, 'configs', 'bdl', 'bdl_demo.py')


def run_tool(*args, cwd, check=True):
    """``python ARGS`` in this process (tests/cli_runner.py)."""
    return run_script(*args, cwd=str(cwd), check=check)


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    """Demo data (data/demo under a temporary cwd) and a BDL checkpoint."""
    from mmengine.config import Config

    from mmbdl.datasets.demo import make_demo_data
    from mmbdl.registry import MODELS
    cwd = tmp_path_factory.mktemp('infer')
    make_demo_data(str(cwd / 'data' / 'demo'), num_source=2,
                   num_target_train=2, num_target_val=3)
    torch.manual_seed(0)
    bdl = MODELS.build(Config.fromfile(DEMO_CFG).model)
    # what every phase checkpoint of a BDL run holds: the whole model
    state = bdl.state_dict()
    assert any(k.startswith('segmentor.segmentor.') for k in state)
    assert any(k.startswith('translator.') for k in state)
    ckpt = cwd / 'k1_translation.pth'
    torch.save(dict(state_dict=state, meta=dict(iter=3)), ckpt)
    return cwd, ckpt


def test_folder_matches_test_tool_and_lists_broken_files(demo):
    cwd, ckpt = demo
    val = cwd / 'data/demo/cityscapes/leftImg8bit/val'
    images = sorted(val.rglob('*.png'))
    assert len(images) == 3
    folder = cwd / 'in'
    os.makedirs(folder / 'sub')
    for i, img in enumerate(images):
        dst = folder / ('sub' if i == 0 else '.') / img.name
        dst.write_bytes(img.read_bytes())
    (folder / 'broken.png').write_bytes(b'not a png at all')
    out = cwd / 'out'
    proc = run_tool(osp.join(REPO, 'tools/infer.py'), DEMO_CFG, str(ckpt),
                    str(folder), '--out-dir', str(out), '--batch-size', '2',
                    cwd=cwd, check=False)
    assert proc.returncode == 1, proc.stderr  # one file skipped
    assert 'Traceback' not in proc.stderr
    broken = str(folder / 'broken.png')
    assert f'warning: skipped {broken}: not a readable image' in proc.stderr
    # listed at the end
    assert proc.stderr.rstrip().endswith(
        f'{broken}: not a readable image'), proc.stderr
    assert 'skipped 1 of 4 files' in proc.stderr
    assert '3 label maps' in proc.stdout
    preds = sorted(str(p.relative_to(out / 'pred'))
                   for p in (out / 'pred').rglob('*.png'))
    names = [img.name for img in images]
    assert preds == sorted([f'sub/{names[0]}'] + names[1:])
    vis = sorted(p.name for p in (out / 'vis').rglob('*.png'))
    assert vis == sorted(names)

    # the same predictions as tools/test.py --out (same model, pipeline and
    # BDL rule); the demo images are 128x64
    ref = cwd / 'ref'
    run_tool(osp.join(REPO, 'tools/test.py'), DEMO_CFG, str(ckpt), '--out',
             str(ref), '--work-dir', str(cwd / 'w'), cwd=cwd)
    for img in images:
        rel = (f'sub/{img.name}' if img.name == names[0] else img.name)
        ours = np.array(Image.open(out / 'pred' / rel))
        theirs = np.array(Image.open(ref / img.name))
        assert ours.shape == (64, 128)
        np.testing.assert_array_equal(ours, theirs)
        overlay = cv2.imread(str(out / 'vis' / rel))
        original = cv2.imread(str(img))
        assert overlay.shape == original.shape
        assert not np.array_equal(overlay, original)  # painted


def test_single_image_label_ids_and_video(demo):
    cwd, ckpt = demo
    img = sorted((cwd / 'data/demo/cityscapes/leftImg8bit/val').rglob(
        '*.png'))[0]
    out = cwd / 'single'
    run_tool(osp.join(REPO, 'tools/infer.py'), DEMO_CFG, str(ckpt), str(img),
             '--out-dir', str(out), '--label-ids', '--no-overlay', cwd=cwd)
    pred = np.array(Image.open(out / 'pred' / img.name))
    assert set(np.unique(pred)) <= {7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23,
                                    24, 25, 26, 27, 28, 31, 32, 33}
    assert not (out / 'vis').exists()

    video = cwd / 'clip.mp4'
    frame = cv2.imread(str(img))
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'mp4v'), 5,
                             (frame.shape[1], frame.shape[0]))
    for _ in range(3):
        writer.write(frame)
    writer.release()
    out = cwd / 'video'
    proc = run_tool(osp.join(REPO, 'tools/infer.py'), DEMO_CFG, str(ckpt),
                    str(video), '--out-dir', str(out), cwd=cwd)
    assert '3 label maps' in proc.stdout
    assert sorted(p.name for p in (out / 'pred' / 'clip').iterdir()) == [
        '000000.png', '000001.png', '000002.png']
    cap = cv2.VideoCapture(str(out / 'vis' / 'clip.mp4'))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    cap.release()


def test_bad_inputs(demo, tmp_path):
    cwd, ckpt = demo
    tool = osp.join(REPO, 'tools/infer.py')
    empty = tmp_path / 'empty'
    empty.mkdir()
    proc = run_tool(tool, DEMO_CFG, str(ckpt), str(empty), '--out-dir',
                    str(tmp_path / 'o'), cwd=cwd, check=False)
    assert proc.returncode == 2
    assert f'error: {empty} holds no images or videos' in proc.stderr
    # a checkpoint without the segmentor's weights (e.g. a translator only)
    only_f = tmp_path / 'translator.pth'
    state = torch.load(ckpt, weights_only=False)['state_dict']
    torch.save(dict(state_dict={k: v for k, v in state.items()
                                if k.startswith('translator.')}), only_f)
    img = next((cwd / 'data/demo/cityscapes/leftImg8bit/val').rglob('*.png'))
    proc = run_tool(tool, DEMO_CFG, str(only_f), str(img), '--out-dir',
                    str(tmp_path / 'o'), cwd=cwd, check=False)
    assert proc.returncode == 2
    assert 'weights of the evaluated module match (' in proc.stderr
    assert 'error: ' + str(only_f) + ': 0/' in proc.stderr
    # an unwritable output folder
    blocker = tmp_path / 'file'
    blocker.write_text('')
    proc = run_tool(tool, DEMO_CFG, str(ckpt), str(img), '--out-dir',
                    str(blocker / 'o'), cwd=cwd, check=False)
    assert proc.returncode == 2
    assert 'is not a writable folder' in proc.stderr


def test_demo_config_tta_through_test_tool(demo):
    """--tta on the demo config: its hooks look through the TTA model."""
    cwd, ckpt = demo
    proc = run_tool(osp.join(REPO, 'tools/test.py'), DEMO_CFG, str(ckpt),
                    '--tta', '--out', str(cwd / 'tta'), '--work-dir',
                    str(cwd / 'w_tta'), cwd=cwd)
    files = sorted((cwd / 'w_tta').glob('*/*.json'))  # the test metrics
    assert files and '"mIoU"' in files[-1].read_text(), proc.stdout
    assert len(list((cwd / 'tta').glob('*.png'))) == 3
