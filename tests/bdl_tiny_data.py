"""The tiny BDL data set of the loop tests, written in the real layouts.

32x32 source images (``src/img``, labels ``src/ann``) and target images
(``tgt/img/{train,val}``, labels ``tgt/ann/{train,val}``), 3 classes drawn
as coloured shapes; the target uses another palette (the domain gap).
"""
import os
import os.path as osp

import numpy as np
from PIL import Image

CLASSES = ('background', 'square', 'stripe')
CAFFE_MEAN = [104.00699, 116.66877, 122.67891]
SRC_COLOURS = np.array([[20, 20, 20], [220, 40, 40], [40, 40, 220]], np.uint8)
TGT_COLOURS = np.array([[60, 90, 60], [160, 90, 40], [90, 60, 170]], np.uint8)


def write_bdl_data(root: str, num_src: int = 4, num_tgt: int = 4,
                   num_val: int = 2, size: int = 32, seed: int = 0) -> str:
    """Write the tiny source / target data set into ``root``.

    Args:
        root (str): Output folder.
        num_src (int): Source images. Defaults to 4.
        num_tgt (int): Target train images. Defaults to 4.
        num_val (int): Target val images. Defaults to 2.
        size (int): Image side. Defaults to 32.
        seed (int): Seed. Defaults to 0.

    Returns:
        str: ``root``.
    """
    rng = np.random.default_rng(seed)

    def draw(colours):
        label = np.zeros((size, size), np.uint8)
        x, y = rng.integers(0, size // 2, 2)
        label[y:y + size // 3, x:x + size // 3] = 1
        col = int(rng.integers(0, size - 4))
        label[:, col:col + 3] = 2
        img = colours[label] + rng.integers(0, 20, (size, size, 3),
                                            dtype=np.uint8)
        return img, label

    def save(img_dir, ann_dir, count, colours):
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        for i in range(count):
            img, label = draw(colours)
            Image.fromarray(img).save(osp.join(img_dir, f'{i:02d}.png'))
            Image.fromarray(label).save(osp.join(ann_dir, f'{i:02d}.png'))

    save(osp.join(root, 'src/img'), osp.join(root, 'src/ann'), num_src,
         SRC_COLOURS)
    save(osp.join(root, 'tgt/img/train'), osp.join(root, 'tgt/ann/train'),
         num_tgt, TGT_COLOURS)
    save(osp.join(root, 'tgt/img/val'), osp.join(root, 'tgt/ann/val'),
         num_val, TGT_COLOURS)
    # the unpaired layout of MMagic's UnpairedImageDataset
    os.makedirs(osp.join(root, 'unpaired'), exist_ok=True)
    for link, target in (('trainA', '../src/img'),
                         ('trainB', '../tgt/img/train')):
        if not osp.exists(osp.join(root, 'unpaired', link)):
            os.symlink(target, osp.join(root, 'unpaired', link))
    return root
