"""Procedural street scenes for the demo: a GTA5-like source set and a
Cityscapes-like target set with a deliberate appearance gap.

Both domains draw the same scene layout (road to a vanishing point,
sidewalks, building blocks, trees, poles with signs, cars, people, sky) with
the same statistics, so the label spaces and geometry agree; they differ in
appearance only: the source is vivid, clean and flat-shaded, the target is
hue-rotated, desaturated, darker with a colour cast and vignetting,
textured, blurred and noisy, varies in brightness, white balance and haze
from image to image, and has an ego-vehicle hood (void) at the bottom.
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

from .converters import convert_cityscapes, convert_gta5, write_json_atomic
from .label_maps import CITYSCAPES_ID_TO_TRAINID, CITYSCAPES_PALETTE

COMPLETE_FILE = '.complete'
# bumped whenever the drawing changes: a set of another version is redrawn
DATA_VERSION = 2
TRAIN_CITIES = ('demotown', 'democity')
VAL_CITY = 'demoburg'

# Cityscapes label ids used by the demo scenes
ROAD, SIDEWALK, BUILDING, POLE, SIGN, VEGETATION, SKY, PERSON, CAR = (
    7, 8, 11, 17, 20, 21, 23, 24, 26)
EGO_VEHICLE = 1  # void (-> 255)
DEMO_LABEL_IDS = (ROAD, SIDEWALK, BUILDING, POLE, SIGN, VEGETATION, SKY,
                  PERSON, CAR)
DEMO_TRAIN_IDS = tuple(
    sorted(CITYSCAPES_ID_TO_TRAINID[i] for i in DEMO_LABEL_IDS))

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


def draw_layout(rng: np.random.Generator, width: int,
                height: int) -> Tuple[np.ndarray, np.ndarray]:
    """Draw one scene layout.

    Args:
        rng (np.random.Generator): Random source.
        width (int): Image width.
        height (int): Image height.

    Returns:
        tuple: ``(ids, instance)``: HxW uint8 Cityscapes label ids and an
        HxW int32 instance map (0 = stuff) used to vary object colours.
    """
    H, W = height, width
    ids = np.full((H, W), SKY, dtype=np.uint8)
    inst = np.zeros((H, W), dtype=np.int32)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    horizon = rng.uniform(0.36, 0.50) * H
    vx = rng.uniform(0.35, 0.65) * W
    # ground: building bases, sidewalks and road converge to (vx, horizon)
    t = np.clip((yy - horizon) / (H - horizon), 0, None)
    road_l, road_r = rng.uniform(-0.35, 0.12) * W, rng.uniform(0.88, 1.35) * W
    side_w = rng.uniform(0.18, 0.40) * W
    left = vx + (road_l - vx) * t
    right = vx + (road_r - vx) * t
    ground = yy >= horizon
    ids[ground] = BUILDING
    ids[ground & (xx >= left - side_w * t) & (xx <= right + side_w * t)] = \
        SIDEWALK
    ids[ground & (xx >= left) & (xx <= right)] = ROAD
    # skyline: blocks whose height grows towards the image sides
    x = 0
    obj = 1
    while x < W:
        bw = int(rng.integers(max(3, W // 12), max(4, W // 4)))
        dist = abs((x + bw / 2) - vx) / W
        top = horizon - (rng.uniform(0.08, 0.25) + 0.5 * dist) * H
        if rng.random() < 0.85:
            ids[(yy >= top) & (yy < horizon + 1) & (xx >= x) &
                (xx < x + bw)] = BUILDING
            inst[(yy >= top) & (yy < horizon + 1) & (xx >= x) &
                 (xx < x + bw)] = obj
            obj += 1
        x += bw
    # trees: crowns above the horizon, bushes on the sidewalk edge
    for _ in range(int(rng.integers(1, 5))):
        cx = rng.uniform(0, W)
        cy = horizon - rng.uniform(0.0, 0.2) * H
        rx, ry = rng.uniform(0.05, 0.12) * W, rng.uniform(0.08, 0.2) * H
        ids[((xx - cx) / rx)**2 + ((yy - cy) / ry)**2 <= 1] = VEGETATION
    # poles with signs on the sidewalks
    for _ in range(int(rng.integers(0, 4))):
        ty = rng.uniform(0.3, 0.95)
        y_base = horizon + ty * (H - horizon)
        side = rng.choice([-1, 1])
        edge = (vx + (road_l - vx) * ty - 0.5 * side_w * ty) if side < 0 \
            else (vx + (road_r - vx) * ty + 0.5 * side_w * ty)
        if not 1 <= edge < W - 2:
            continue
        ph = (0.25 + 0.5 * ty) * H
        pw = max(1, int(round(1 + 1.5 * ty)))
        ids[(yy >= y_base - ph) & (yy <= y_base) & (xx >= edge) &
            (xx < edge + pw)] = POLE
        if rng.random() < 0.7:
            s = max(2, int(round(2 + 4 * ty)))
            ids[(yy >= y_base - ph) & (yy < y_base - ph + s) &
                (xx >= edge - s // 2) & (xx < edge - s // 2 + s)] = SIGN
    # people on the sidewalks
    for _ in range(int(rng.integers(0, 5))):
        ty = rng.uniform(0.2, 0.95)
        y_base = horizon + ty * (H - horizon)
        l_edge = vx + (road_l - vx) * ty
        r_edge = vx + (road_r - vx) * ty
        cx = (l_edge - rng.uniform(0.1, 0.9) * side_w * ty) \
            if rng.random() < 0.5 else \
            (r_edge + rng.uniform(0.1, 0.9) * side_w * ty)
        ph, pw = (0.15 + 0.35 * ty) * H, (0.01 + 0.03 * ty) * W + 1
        body = (np.abs(xx - cx) <= pw / 2) & (yy <= y_base) & (
            yy >= y_base - ph)
        head = ((xx - cx)**2 + (yy - (y_base - ph))**2) <= (pw * 0.6)**2
        ids[body | head] = PERSON
    # cars on the road, far ones first so near ones occlude them
    cars = sorted(rng.uniform(0.15, 1.0, size=int(rng.integers(1, 5))))
    for ty in cars:
        y_base = horizon + ty * (H - horizon)
        l_edge = vx + (road_l - vx) * ty
        r_edge = vx + (road_r - vx) * ty
        cw = (0.08 + 0.3 * ty) * W
        ch = cw * rng.uniform(0.45, 0.6)
        cx = rng.uniform(l_edge + cw / 2, max(l_edge + cw / 2 + 1,
                                              r_edge - cw / 2))
        box = (np.abs(xx - cx) <= cw / 2) & (yy <= y_base) & (
            yy >= y_base - ch * 0.6)
        roof = (np.abs(xx - cx) <= cw * 0.32) & (yy < y_base - ch * 0.6) & (
            yy >= y_base - ch)
        ids[box | roof] = CAR
        inst[box | roof] = obj
        obj += 1
    return ids, inst


def _smooth_noise(rng: np.random.Generator, height: int, width: int,
                  cell: int) -> np.ndarray:
    small = rng.standard_normal(
        (max(2, height // cell + 2), max(2, width // cell + 2)))
    return cv2.resize(small.astype(np.float32), (width, height),
                      interpolation=cv2.INTER_CUBIC)


def render(ids: np.ndarray, inst: np.ndarray, rng: np.random.Generator,
           domain: str, conditions: bool = True) -> np.ndarray:
    """Render a layout in the 'source' or the 'target' style.

    Args:
        ids (np.ndarray): HxW label ids from :func:`draw_layout`.
        inst (np.ndarray): HxW instance ids.
        rng (np.random.Generator): Random source.
        domain (str): 'source' or 'target'.
        conditions (bool): Vary the target's brightness, white balance and
            haze per image. Defaults to True.

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
    hsv = cv2.cvtColor(np.clip(img, 0, 1), cv2.COLOR_RGB2HSV)
    hsv[..., 0] = (hsv[..., 0] + 110.0) % 360.0
    hsv[..., 1] *= 0.55
    hsv[..., 2] = 0.18 + 0.62 * hsv[..., 2]
    img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    img *= np.array([1.0, 0.95, 0.82], dtype=np.float32)
    if conditions:
        # per-image conditions (time of day, haze, white balance): one
        # translator learns one mapping to the target's typical look; the
        # target's spread around it is left to adaptation and self-training
        img *= rng.uniform(0.6, 1.3) * rng.uniform(0.88, 1.12, size=3)
        haze = rng.uniform(0.0, 0.4)
        img = (1 - haze) * img + haze * np.float32(0.55)
    texture = 0.10 * _smooth_noise(rng, H, W, 2) + \
        0.06 * rng.standard_normal((H, W)).astype(np.float32)
    img *= (1.0 + texture)[..., None]
    vignette = 1.0 - 0.35 * (((xx - W / 2) / W)**2 + ((yy - H / 2) / H)**2)
    img *= vignette[..., None]
    img = cv2.GaussianBlur(img, (0, 0), sigmaX=0.9)
    img += 0.03 * rng.standard_normal(img.shape).astype(np.float32)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def draw_sample(seed: int, index: int, domain: str, width: int,
                height: int) -> Tuple[np.ndarray, np.ndarray]:
    """Image and label ids of one sample, fully determined by the args.

    Args:
        seed (int): Global seed.
        index (int): Sample index (distinct per split and domain).
        domain (str): 'source' or 'target'.
        width (int): Image width.
        height (int): Image height.

    Returns:
        tuple: ``(rgb uint8 HxWx3, label ids uint8 HxW)``.
    """
    rng = np.random.default_rng([seed, index, 0 if domain == 'source' else 1])
    ids, inst = draw_layout(rng, width, height)
    if domain == 'target':
        hood = int(round(0.06 * height))
        bump = (np.abs(np.arange(width) - width / 2) < width * 0.3)
        ids[height - hood:, :] = np.where(bump, EGO_VEHICLE,
                                          ids[height - hood:, :])
    return render(ids, inst, rng, domain), ids


def _save_rgb(img: np.ndarray, path: str) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(img).save(path)


def _write_split(out: str, seed: int, count: int, offset: int, domain: str,
                 split: Optional[str], size: Tuple[int, int]) -> None:
    width, height = size
    palette = _gta5_palette()
    for i in range(count):
        img, ids = draw_sample(seed, offset + i, domain, width, height)
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
                   force: bool = False) -> Dict:
    """Write the demo data set (source in GTA5, target in Cityscapes layout).

    The files are first written to ``<out_dir>.partial`` and the folder is
    renamed to ``out_dir`` when complete; ``<out_dir>/.complete`` (JSON
    summary) marks a finished set, which is reused unless ``force`` or
    its ``version`` is not :data:`DATA_VERSION` (the drawing changed).

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

    Returns:
        dict: The summary also written to ``.complete`` (plus
        ``reused=True`` when an existing set was kept).
    """
    marker = osp.join(out_dir, COMPLETE_FILE)
    if osp.isfile(marker) and not force:
        with open(marker) as f:
            summary = json.load(f)
        if summary.get('version') == DATA_VERSION:
            return dict(summary, reused=True)
        print(f'{out_dir} holds demo data version '
              f'{summary.get("version", 1)}; redrawing it as version '
              f'{DATA_VERSION}')
    start = time.time()
    tmp = out_dir.rstrip('/') + '.partial'
    if osp.exists(tmp):
        shutil.rmtree(tmp)
    size = (int(size[0]), int(size[1]))
    _write_split(tmp, seed, num_source, 0, 'source', None, size)
    _write_split(tmp, seed, num_target_train, 100000, 'target', 'train', size)
    _write_split(tmp, seed, num_target_val, 200000, 'target', 'val', size)
    src_stats = convert_gta5(osp.join(tmp, 'gta5'), nproc=nproc,
                             progress=False)
    tgt_stats = convert_cityscapes(osp.join(tmp, 'cityscapes'),
                                   nproc=nproc, progress=False)
    if osp.exists(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(osp.dirname(osp.abspath(out_dir)), exist_ok=True)
    os.replace(tmp, out_dir)
    summary = dict(
        version=DATA_VERSION,
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
