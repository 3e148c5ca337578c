"""The ACDC / Dark Zurich / own-target configs build their data on tiny
trees in the real layouts (data roots overridden as a user would)."""
import os.path as osp

import pytest
from adverse_fixtures import write_acdc, write_dark_zurich
from data_fixtures import rgb, save_rgb, write_gta5
from mmengine.config import Config

from mmbdl.datasets.adverse_converters import convert_acdc, convert_dark_zurich
from mmbdl.datasets.converters import convert_gta5
from mmbdl.registry import DATASETS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
LEAF = 'configs/bdl/bdl_deeplabv2-r101_1xb1-k2n2_gta5-to-{}.py'


@pytest.fixture(scope='module')
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp('targets')
    gta5 = write_gta5(str(base / 'gta5'), n=2)
    convert_gta5(gta5, progress=False)
    acdc = write_acdc(str(base / 'acdc'))
    convert_acdc(acdc, progress=False)
    dz = write_dark_zurich(str(base / 'dark_zurich'))
    convert_dark_zurich(dz, progress=False)
    for i in range(3):
        save_rgb(rgb(4, 6, i), str(base / 'own' / 'images' / 'a' /
                                   f'{i}.jpg'))
    return dict(gta5=gta5, acdc=acdc, dark_zurich=dz, own=str(base / 'own'))


def _set_roots(node, roots):
    """Point every data set config at the tiny trees."""
    if isinstance(node, dict):
        root = node.get('data_root')
        if isinstance(root, str):
            for name, path in roots.items():
                if root.rstrip('/').endswith(name) or \
                        (name == 'own' and 'own_target' in root):
                    node['data_root'] = path
        for value in node.values():
            _set_roots(value, roots)
    elif isinstance(node, list):
        for value in node:
            _set_roots(value, roots)


def _build(cfg, key, roots):
    ds = cfg[key]['dataset'].to_dict()
    _set_roots(ds, roots)
    return DATASETS.build(ds)


@pytest.mark.parametrize('cond', ['fog', 'night', 'rain', 'snow'])
def test_acdc_configs(cond, roots):
    cfg = Config.fromfile(osp.join(REPO, LEAF.format(f'acdc-{cond}-960x540')))
    uda = _build(cfg, 'train_dataloader', roots)
    assert type(uda.target).__name__ == 'ACDCDataset'
    assert uda.target.conditions == (cond, ) and uda.target.split == 'train'
    assert len(uda.target) == 2 and len(uda) == 2
    val = _build(cfg, 'val_dataloader', roots)
    assert val.conditions == (cond, ) and val.split == 'val'
    assert 'gt_sem_seg' in val[0]['data_samples']
    pseudo = _build(cfg, 'pseudo_label_dataloader', roots)
    assert len(pseudo) == 2
    trans = cfg.train_cfg.phase_dataloaders.translation.dataset
    assert trans.data_prefix.target == f'acdc/rgb_anon/{cond}/train'
    assert trans.target_suffix == '_rgb_anon.png'
    assert cfg.tta_pipeline[1].transforms[0][2].scale == (960, 540)


def test_dark_zurich_config(roots):
    cfg = Config.fromfile(osp.join(REPO, LEAF.format('dark-zurich-960x540')))
    uda = _build(cfg, 'train_dataloader', roots)
    assert type(uda.target).__name__ == 'DarkZurichDataset'
    assert all('/train/night/' in uda.target.get_data_info(i)['img_path']
               for i in range(len(uda.target)))
    val = _build(cfg, 'val_dataloader', roots)
    assert len(val) == 2 and 'gt_sem_seg' in val[0]['data_samples']
    trans = cfg.train_cfg.phase_dataloaders.translation.dataset
    assert trans.data_prefix.target == 'dark_zurich/rgb_anon/train/night'


def test_own_target_template(roots):
    cfg = Config.fromfile(osp.join(REPO, LEAF.format('own-target')))
    assert cfg.val_dataloader is None and not cfg.train_cfg.val_after_phases
    uda = _build(cfg, 'train_dataloader', roots)
    assert type(uda.target).__name__ == 'ImageFolderTargetDataset'
    assert len(uda.target) == 3
    trans = cfg.train_cfg.phase_dataloaders.translation.dataset
    assert trans.data_prefix.target == 'data/own_target/images'
    assert trans.target_suffix == '.jpg'
