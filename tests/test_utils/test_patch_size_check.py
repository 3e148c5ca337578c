"""Crops that are not whole DINOv2 patches are refused at config load."""
import os.path as osp
import subprocess
import sys

import pytest

from mmbdl.utils import load_config
from mmbdl.utils.errors import ConfigCheckError
from mmbdl.utils.patch_size_check import check_patch_sizes, vit_patch_sizes

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
VITB = osp.join(REPO, 'configs/bdl/bdl_dinov2-vitb14_1xb1-k2n2_gta5-to-'
                'cityscapes-504x504.py')


def leaf_with_crop(tmp_path, crop, key='RandomCrop'):
    path = tmp_path / 'bad_crop.py'
    if key == 'RandomCrop':
        body = (
            'train_dataloader = dict(dataset=dict(source=dict(pipeline=[\n'
            f'    dict(t, crop_size={crop}) if t["type"] == "RandomCrop" '
            'else t\n'
            '    for t in _base_.train_dataloader.dataset.source.pipeline'
            '])))\n')
    else:
        body = (
            'train_cfg = dict(phase_dataloaders=dict(translation=dict(\n'
            '    dataset=dict(pipeline=[\n'
            f'        dict(t, crop_size={crop}) if t["type"] == '
            '"mmagic.Crop" else t for t in _base_.train_cfg.'
            'phase_dataloaders.translation.dataset.pipeline]))))\n')
    path.write_text(f'_base_ = [{VITB!r}]\n' + body)
    return str(path)


def test_shipped_configs_pass():
    cfg = load_config(VITB)
    assert vit_patch_sizes(cfg.model) == [14]
    demo = load_config(osp.join(REPO, 'configs/bdl/bdl_demo_vit.py'))
    assert vit_patch_sizes(demo.model) == [8]


def test_segmentation_crop_refused_with_nearest(tmp_path):
    with pytest.raises(ConfigCheckError) as err:
        load_config(leaf_with_crop(tmp_path, (512, 512)))
    msg = str(err.value)
    assert 'train_dataloader.dataset.source.pipeline[3]' in msg
    assert '(504, 504) or (518, 518)' in msg


def test_translation_crop_refused(tmp_path):
    """F's crops go through M for the perceptual loss: the release's 452
    is refused for a ViT M."""
    with pytest.raises(ConfigCheckError, match=r'\(448, 448\) or '
                       r'\(462, 462\)'):
        load_config(leaf_with_crop(tmp_path, (452, 452), 'mmagic.Crop'))


def test_non_square_keeps_the_valid_side():
    cfg = dict(model=dict(backbone=dict(type='DINOv2VisionTransformer')),
               train_dataloader=dict(pipeline=[
                   dict(type='RandomCrop', crop_size=(500, 700))]))
    with pytest.raises(ConfigCheckError,
                       match=r'\(490, 700\) or \(504, 700\)'):
        check_patch_sizes(cfg)
    # other backbones: no check
    check_patch_sizes(dict(model=dict(backbone=dict(type='ResNetV1c')),
                           train_dataloader=cfg['train_dataloader']))


@pytest.mark.slow  # a real tools/train.py process
def test_train_tool_prints_one_error_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/train.py'),
         leaf_with_crop(tmp_path, (512, 512)), '--work-dir',
         str(tmp_path / 'work')],
        capture_output=True, text=True, cwd=str(tmp_path), timeout=300)
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines[-1].startswith('error: ') and 'patch size 14' in lines[-1]
    assert 'Traceback' not in proc.stderr


def test_resized_input_takes_square_crops_only():
    """A backbone with input_resize (VFM-UDA's 1.1x rule) sees whole
    patches of any square crop; a non-square crop is refused."""
    vit = dict(type='DINOv2VisionTransformer', input_resize=1120)
    ok = dict(model=dict(backbone=vit), train_dataloader=dict(pipeline=[
        dict(type='RandomCrop', crop_size=(1024, 1024))]))
    check_patch_sizes(ok)
    bad = dict(model=dict(backbone=vit), train_dataloader=dict(pipeline=[
        dict(type='RandomCrop', crop_size=(512, 1024))]))
    with pytest.raises(ConfigCheckError,
                       match=r'not square.*\(512, 512\) or \(1024, 1024\)'):
        check_patch_sizes(bad)
    load_config(osp.join(REPO, 'configs/vfm-uda/vfm-uda_dinov2-vitb14_'
                         '1xb8-40k_gta5-to-cityscapes-1024x1024.py'))
