"""Procedural street scenes for the demo: a GTA5-like source set and a
Cityscapes-like target set that differ in appearance and in content.

Each scene is a road to a vanishing point, sidewalks, building blocks,
trees, poles with signs, cars, people and sky
(:mod:`mmbdl.datasets.demo_layout`). Appearance gap: the source is vivid,
clean and flat-shaded, the target is hue-rotated, desaturated, darker with
a colour cast and vignetting, textured, blurred and noisy, varies in
brightness, white balance and haze from image to image, and has an
ego-vehicle hood (void) at the bottom.

Content shift (version 3, :data:`DATA_VERSION`): the domains also differ in
what the scenes contain, as GTA5 and Cityscapes do. The source has more sky
(a lower, more variable skyline with gaps) and road, fewer but wider
building blocks and more, larger cars; the target has more buildings and
vegetation (trees lining the street), a narrower road, more sidewalk and
more, smaller poles, signs and people. All 9 classes occur in both domains.
That is the condition an unpaired translator meets on the real data: to
fool its discriminator it can paint sky as buildings or trees, which the
perceptual loss exists to prevent. Per-class pixel frequencies of the
default set (% of each domain's labelled pixels; target train + val), from
``python tools/analysis/show_demo_data.py --frequencies``::

    class         source %  target %  target / source
    road             25.06     19.30     0.77
    sidewalk          3.57      8.59     2.41
    building         23.73     36.84     1.55
    pole              0.39      1.06     2.70
    traffic sign      0.08      0.24     3.08
    vegetation        4.94     10.40     2.10
    sky              26.06     13.08     0.50
    person            0.72      1.92     2.65
    car              15.44      8.57     0.55

Version 2 (``version=2``, ``--data-version 2``) draws both domains with the
same layout statistics (the ratios are 0.89 to 1.22), so they differ in
appearance only; it is drawn byte for byte as before version 3. Version 3
renders the target style with the numpy operations of
:mod:`mmbdl.datasets.demo_image_ops` instead of OpenCV's, so it draws the
same bits on numpy 1 and 2 and OpenCV 4 and 5
(``tests/test_tools/test_demo_data_checksums.py`` pins checksums).

Labels are written as Cityscapes label ids in each data set's real
on-disk encoding (GTA5: palette PNG; Cityscapes: 8-bit
``*_labelIds.png``), then the real converters make the train-id files.
Everything is seeded: the same arguments give byte-identical files.

Layout under ``out_dir`` (default ``data/demo``)::

    gta5/images/00000.png             gta5/labels/00000.png (+ _labelTrainIds)
    cityscapes/leftImg8bit/{train,val}/{city}/
        {city}_000000_NNNNNN_leftImg8bit.png
    cityscapes/gtFine/{train,val}/{city}/..._gtFine_labelIds.png (+ TrainIds)
    .complete                         JSON summary, written last
"""
import json
import os
import os.path as osp
import shutil
import time
from typing import Dict, Optional, Tuple

import cv2
import numpy as np
from PIL import Image

from mmbdl.utils.errors import ConfigCheckError
from .converters import convert_cityscapes, convert_gta5, write_json_atomic
from .demo_image_ops import gaussian_blur, hsv_to_rgb, resize_cubic, rgb_to_hsv
from .demo_layout import (BUILDING, CAR, DEMO_TRAIN_IDS, EGO_VEHICLE, LAYOUTS,
                          PERSON, POLE, ROAD, SIDEWALK, SIGN, SKY, VEGETATION,
                          draw_layout)
from .label_maps import CITYSCAPES_ID_TO_TRAINID, CITYSCAPES_PALETTE

COMPLETE_FILE = '.complete'
# bumped whenever the drawing changes: a set of another version is redrawn;
# the versions in DATA_VERSIONS can still be drawn (``version=``)
DATA_VERSION = 3
DATA_VERSIONS = tuple(sorted(LAYOUTS))
TRAIN_CITIES = ('demotown', 'democity')
VAL_CITY = 'demoburg'

# vivid "synthetic" base colours of the source (RGB, 0..1)
BASE_COLOURS = {
    ROAD: (0.50, 0.25, 0.50),
    SIDEWALK: (0.90, 0.45, 0.85),
    BUILDING: (0.62, 0.42, 0.28),
    POLE: (0.60, 0.60, 0.62),
    SIGN: (0.95, 0.90, 0.05),
    VEGETATION: (0.35, 0.60, 0.12),
    SKY: (0.35, 0.60, 0.90),
    PERSON: (0.90, 0.10, 0.25),
    CAR: (0.05, 0.10, 0.65),
    EGO_VEHICLE: (0.05, 0.05, 0.05),
}
CAR_COLOURS = ((0.05, 0.10, 0.65), (0.10, 0.15, 0.75), (0.05, 0.30, 0.70))


def _gta5_palette() -> list:
    """Palette of the GTA5 label PNGs: Cityscapes colours by label id."""
    pal = np.zeros((256, 3), dtype=np.uint8)
    for label_id, train_id in CITYSCAPES_ID_TO_TRAINID.items():
        pal[label_id] = CITYSCAPES_PALETTE[train_id]
    return pal.ravel().tolist()


def _smooth_noise(rng: np.random.Generator, height: int, width: int,
                  cell: int, portable: bool) -> np.ndarray:
    small = rng.standard_normal(
        (max(2, height // cell + 2), max(2, width // cell + 2)))
    if portable:
        return resize_cubic(small.astype(np.float32), width, height)
    return cv2.resize(small.astype(np.float32), (width, height),
                      interpolation=cv2.INTER_CUBIC)


def render(ids: np.ndarray,
           inst: np.ndarray,
           rng: np.random.Generator,
           domain: str,
           conditions: bool = True,
           portable: bool = False) -> np.ndarray:
    """Render a layout in the 'source' or the 'target' style.

    Args:
        ids (np.ndarray): HxW label ids from :func:`draw_layout`.
        inst (np.ndarray): HxW instance ids.
        rng (np.random.Generator): Random source.
        domain (str): 'source' or 'target'.
        conditions (bool): Vary the target's brightness, white balance and
            haze per image. Defaults to True.
        portable (bool): Render the target style with the numpy operations
            of :mod:`mmbdl.datasets.demo_image_ops`, which give the same
            bits on every stack, instead of OpenCV's (demo data version 2,
            whose bits differ between OpenCV 4 and 5). Defaults to False.

    Returns:
        np.ndarray: HxWx3 uint8 RGB image.
    """
    H, W = ids.shape
    img = np.zeros((H, W, 3), dtype=np.float32)
    for label_id, colour in BASE_COLOURS.items():
        mask = ids == label_id
        if mask.any():
            jitter = rng.uniform(-0.06, 0.06, size=3)
            img[mask] = np.clip(np.asarray(colour) + jitter, 0, 1)
    for obj in np.unique(inst[(ids == CAR)]):
        if obj:
            mask = (inst == obj) & (ids == CAR)
            img[mask] = CAR_COLOURS[int(rng.integers(len(CAR_COLOURS)))]
    for obj in np.unique(inst[(ids == BUILDING)]):
        if obj:
            mask = (inst == obj) & (ids == BUILDING)
            img[mask] *= rng.uniform(0.85, 1.1)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    # windows on buildings (same geometry in both domains)
    period = max(3, W // 24)
    windows = (ids == BUILDING) & ((xx % period) < period / 2) & (
        (yy % period) < period / 2)
    img[windows] *= 0.7
    # soft vertical light falloff
    img *= (1.05 - 0.15 * (yy / H))[..., None]
    if domain == 'source':
        img += 0.015 * rng.standard_normal(img.shape).astype(np.float32)
        return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    if domain != 'target':
        raise ValueError(f'domain must be source or target, got {domain!r}')
    # appearance gap: palette (hue rotation, desaturation), lighting
    # (darker, lower contrast, colour cast, vignette), texture, blur, noise
    hsv = rgb_to_hsv(np.clip(img, 0, 1)) if portable else cv2.cvtColor(
        np.clip(img, 0, 1), cv2.COLOR_RGB2HSV)
    hsv[..., 0] = (hsv[..., 0] + 110.0) % 360.0
    hsv[..., 1] *= 0.55
    hsv[..., 2] = 0.18 + 0.62 * hsv[..., 2]
    img = hsv_to_rgb(hsv) if portable else cv2.cvtColor(
        hsv, cv2.COLOR_HSV2RGB)
    img *= np.array([1.0, 0.95, 0.82], dtype=np.float32)
    if conditions:
        # per-image conditions (time of day, haze, white balance): one
        # translator learns one mapping to the target's typical look; the
        # target's spread around it is left to adaptation and self-training
        img *= rng.uniform(0.6, 1.3) * rng.uniform(0.88, 1.12, size=3)
        haze = rng.uniform(0.0, 0.4)
        # the float32 that numpy 1 added (numpy 2 would round the product
        # in float32 first)
        img = (1 - haze) * img + np.float32(haze * float(np.float32(0.55)))
    texture = 0.10 * _smooth_noise(rng, H, W, 2, portable) + \
        0.06 * rng.standard_normal((H, W)).astype(np.float32)
    img *= (1.0 + texture)[..., None]
    vignette = 1.0 - 0.35 * (((xx - W / 2) / W)**2 + ((yy - H / 2) / H)**2)
    img *= vignette[..., None]
    img = gaussian_blur(img, 0.9) if portable else cv2.GaussianBlur(
        img, (0, 0), sigmaX=0.9)
    img += 0.03 * rng.standard_normal(img.shape).astype(np.float32)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def check_version(version: int) -> int:
    """Return ``version`` if it is a demo data version that can be drawn.

    Args:
        version (int): Demo data version.

    Returns:
        int: ``version``.

    Raises:
        ConfigCheckError: Not one of :data:`DATA_VERSIONS`.
    """
    if version not in LAYOUTS:
        raise ConfigCheckError(
            f'demo data version {version!r} cannot be drawn; pass one of '
            f'{list(DATA_VERSIONS)} (--data-version)')
    return version


def draw_sample(seed: int,
                index: int,
                domain: str,
                width: int,
                height: int,
                version: int = DATA_VERSION) -> Tuple[np.ndarray, np.ndarray]:
    """Image and label ids of one sample, fully determined by the args.

    Args:
        seed (int): Global seed.
        index (int): Sample index (distinct per split and domain).
        domain (str): 'source' or 'target'.
        width (int): Image width.
        height (int): Image height.
        version (int): Demo data version (the domain's layout statistics,
            :data:`~mmbdl.datasets.demo_layout.LAYOUTS`). Defaults to
            :data:`DATA_VERSION`.

    Returns:
        tuple: ``(rgb uint8 HxWx3, label ids uint8 HxW)``.
    """
    if domain not in ('source', 'target'):
        raise ValueError(f'domain must be source or target, got {domain!r}')
    layout = LAYOUTS[check_version(version)][domain]
    rng = np.random.default_rng([seed, index, 0 if domain == 'source' else 1])
    ids, inst = draw_layout(rng, width, height, layout)
    if domain == 'target':
        hood = int(round(0.06 * height))
        bump = (np.abs(np.arange(width) - width / 2) < width * 0.3)
        ids[height - hood:, :] = np.where(bump, EGO_VEHICLE,
                                          ids[height - hood:, :])
    return render(ids, inst, rng, domain, portable=version >= 3), ids


def _save_rgb(img: np.ndarray, path: str) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(img).save(path)


def _write_split(out: str, seed: int, count: int, offset: int, domain: str,
                 split: Optional[str], size: Tuple[int, int],
                 version: int) -> None:
    width, height = size
    palette = _gta5_palette()
    for i in range(count):
        img, ids = draw_sample(seed, offset + i, domain, width, height,
                               version)
        if domain == 'source':
            _save_rgb(img, osp.join(out, 'gta5', 'images', f'{i:05d}.png'))
            label = Image.fromarray(ids, mode='P')
            label.putpalette(palette)
            os.makedirs(osp.join(out, 'gta5', 'labels'), exist_ok=True)
            label.save(osp.join(out, 'gta5', 'labels', f'{i:05d}.png'))
            continue
        city = VAL_CITY if split == 'val' else TRAIN_CITIES[i % 2]
        stem = f'{city}_000000_{i:06d}'
        _save_rgb(img, osp.join(out, 'cityscapes', 'leftImg8bit', split,
                                city, stem + '_leftImg8bit.png'))
        lbl = osp.join(out, 'cityscapes', 'gtFine', split, city,
                       stem + '_gtFine_labelIds.png')
        os.makedirs(osp.dirname(lbl), exist_ok=True)
        Image.fromarray(ids, mode='L').save(lbl)


def make_demo_data(out_dir: str = 'data/demo',
                   num_source: int = 200,
                   num_target_train: int = 120,
                   num_target_val: int = 60,
                   size: Tuple[int, int] = (128, 64),
                   seed: int = 0,
                   nproc: int = 1,
                   force: bool = False,
                   version: int = DATA_VERSION) -> Dict:
    """Write the demo data set (source in GTA5, target in Cityscapes layout).

    The files are first written to ``<out_dir>.partial`` and the folder is
    renamed to ``out_dir`` when complete; ``<out_dir>/.complete`` (JSON
    summary) marks a finished set, which is reused unless ``force`` or
    its ``version`` is not the one asked for (``version``, by default
    :data:`DATA_VERSION`; a set of another version is redrawn).

    Args:
        out_dir (str): Output folder. Defaults to 'data/demo'.
        num_source (int): Source images. Defaults to 200.
        num_target_train (int): Target training images. Defaults to 120.
        num_target_val (int): Target validation images. Defaults to 60.
        size (tuple[int, int]): ``(width, height)``. Defaults to (128, 64).
        seed (int): Seed. Defaults to 0.
        nproc (int): Processes of the label converters. Defaults to 1.
        force (bool): Regenerate even if a complete set exists.
            Defaults to False.
        version (int): Demo data version to draw, one of
            :data:`DATA_VERSIONS`; 2 draws both domains with the same
            layout statistics (appearance gap only), byte for byte as
            before version 3. Defaults to :data:`DATA_VERSION`.

    Returns:
        dict: The summary also written to ``.complete`` (plus
        ``reused=True`` when an existing set was kept).
    """
    check_version(version)
    marker = osp.join(out_dir, COMPLETE_FILE)
    if osp.isfile(marker) and not force:
        with open(marker) as f:
            summary = json.load(f)
        if summary.get('version') == version:
            return dict(summary, reused=True)
        print(f'{out_dir} holds demo data version '
              f'{summary.get("version", 1)}; redrawing it as version '
              f'{version}')
    start = time.time()
    tmp = out_dir.rstrip('/') + '.partial'
    if osp.exists(tmp):
        shutil.rmtree(tmp)
    size = (int(size[0]), int(size[1]))
    _write_split(tmp, seed, num_source, 0, 'source', None, size, version)
    _write_split(tmp, seed, num_target_train, 100000, 'target', 'train', size,
                 version)
    _write_split(tmp, seed, num_target_val, 200000, 'target', 'val', size,
                 version)
    src_stats = convert_gta5(osp.join(tmp, 'gta5'), nproc=nproc,
                             progress=False)
    tgt_stats = convert_cityscapes(osp.join(tmp, 'cityscapes'),
                                   nproc=nproc, progress=False)
    if osp.exists(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(osp.dirname(osp.abspath(out_dir)), exist_ok=True)
    os.replace(tmp, out_dir)
    summary = dict(
        version=version,
        seed=seed,
        size=list(size),
        num_source=num_source,
        num_target_train=num_target_train,
        num_target_val=num_target_val,
        train_ids=list(DEMO_TRAIN_IDS),
        source_root=osp.join(out_dir, 'gta5'),
        target_root=osp.join(out_dir, 'cityscapes'),
        source_class_pixels=src_stats['class_pixels'],
        target_class_pixels=tgt_stats['class_pixels'],
        seconds=round(time.time() - start, 2))
    write_json_atomic(summary, marker)
    return summary
