"""Tiny ACDC and Dark Zurich trees in their distributed layouts (tests)."""
import os
import os.path as osp

from data_fixtures import CS_IDS, rgb, save_rgb
from PIL import Image


def _frame(root, img_rel, gt_rel, seq, i, label=True):
    stem = f'{seq}_frame_{i:06d}'
    h, w = CS_IDS.shape
    save_rgb(rgb(h, w, i), osp.join(root, img_rel, seq,
                                    stem + '_rgb_anon.png'))
    if label:
        path = osp.join(root, gt_rel, seq, stem + '_gt_labelIds.png')
        os.makedirs(osp.dirname(path), exist_ok=True)
        Image.fromarray(CS_IDS, mode='L').save(path)


def write_acdc(root, n=2):
    for c, cond in enumerate(('fog', 'night', 'rain', 'snow')):
        for split in ('train', 'val', 'test'):
            for i in range(n):
                _frame(root, f'rgb_anon/{cond}/{split}', f'gt/{cond}/{split}',
                       f'GOPR04{c}{i}', i, label=split != 'test')
    return root


def write_dark_zurich(root, n=2):
    for cond in ('day', 'twilight', 'night'):
        for i in range(n):
            _frame(root, f'rgb_anon/train/{cond}', None, 'GOPR0348', i,
                   label=False)
    for i in range(n):
        _frame(root, 'rgb_anon/val/night', 'gt/val/night', 'GOPR0356', i)
    return root
