"""Scene layouts of the demo data: what each pixel of a demo scene shows.

A layout is a road converging to a vanishing point on the horizon, with
sidewalks and building bases beside it, a skyline of building blocks, trees,
poles with signs, people and cars; the rest is sky. :class:`SceneLayout`
holds the statistics of one domain's scenes (ranges of the random draws,
object counts and sizes) and :func:`draw_layout` draws one scene from them.

Demo data version 2 draws both domains from :data:`SHARED_LAYOUT`, so the
domains differ in appearance only. Version 3 draws the source from
:data:`GTA5_LIKE_LAYOUT` and the target from :data:`CITYSCAPES_LIKE_LAYOUT`,
so the content differs too, in the directions in which GTA5 and Cityscapes
differ: the source has more sky (a lower, more variable skyline with gaps)
and more road, fewer but wider building blocks and more, larger cars; the
target has more buildings and vegetation (trees lining the street), a
narrower road, and more and smaller poles, signs and people. The per-class
pixel frequencies are in :mod:`mmbdl.datasets.demo`.
"""
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np

from .label_maps import CITYSCAPES_ID_TO_TRAINID

# Cityscapes label ids used by the demo scenes
ROAD, SIDEWALK, BUILDING, POLE, SIGN, VEGETATION, SKY, PERSON, CAR = (
    7, 8, 11, 17, 20, 21, 23, 24, 26)
EGO_VEHICLE = 1  # void (-> 255)
DEMO_LABEL_IDS = (ROAD, SIDEWALK, BUILDING, POLE, SIGN, VEGETATION, SKY,
                  PERSON, CAR)
DEMO_TRAIN_IDS = tuple(
    sorted(CITYSCAPES_ID_TO_TRAINID[i] for i in DEMO_LABEL_IDS))

Range = Tuple[float, float]
Count = Tuple[int, int]


@dataclass(frozen=True)
class SceneLayout:
    """Statistics of one domain's scenes.

    Ranges ``(low, high)`` are drawn uniformly; counts ``(low, high)`` are
    drawn as integers in ``[low, high)``. Positions and sizes are fractions
    of the image width (x) or height (y); ``depth`` is 0 at the horizon and
    1 at the bottom of the image.

    Args:
        horizon (tuple): Horizon height (y).
        vanishing_x (tuple): Vanishing point (x).
        road_left (tuple): Left road edge at the bottom of the image (x).
        road_right (tuple): Right road edge at the bottom of the image (x).
        sidewalk (tuple): Sidewalk width at the bottom of the image (x).
        block_divisors (tuple): ``(a, b)``: skyline blocks are
            ``[W // a, W // b)`` pixels wide.
        block_top (tuple): Block height above the horizon at the vanishing
            point (y).
        block_top_slope (float): Extra block height (y) per unit of
            horizontal distance (x) from the vanishing point.
        block_prob (float): Probability that a skyline slot holds a block
            (a gap shows sky).
        trees (tuple): Count of tree crowns around the horizon.
        tree_height (tuple): Crown centre above the horizon (y).
        tree_rx (tuple): Crown half width (x).
        tree_ry (tuple): Crown half height (y).
        street_trees (tuple, optional): Count of trees on the sidewalks'
            outer edges (trunk and crown, scaled by depth); None draws none
            and draws nothing from the random source for them.
        poles (tuple): Count of poles on the sidewalks.
        sign_prob (float): Probability that a pole carries a sign.
        people (tuple): Count of people on the sidewalks.
        person_scale (float): Size factor of people.
        cars (tuple): Count of cars on the road.
        car_scale (float): Size factor of cars.
    """
    horizon: Range = (0.36, 0.50)
    vanishing_x: Range = (0.35, 0.65)
    road_left: Range = (-0.35, 0.12)
    road_right: Range = (0.88, 1.35)
    sidewalk: Range = (0.18, 0.40)
    block_divisors: Count = (12, 4)
    block_top: Range = (0.08, 0.25)
    block_top_slope: float = 0.5
    block_prob: float = 0.85
    trees: Count = (1, 5)
    tree_height: Range = (0.0, 0.2)
    tree_rx: Range = (0.05, 0.12)
    tree_ry: Range = (0.08, 0.2)
    street_trees: Optional[Count] = None
    poles: Count = (0, 4)
    sign_prob: float = 0.7
    people: Count = (0, 5)
    person_scale: float = 1.0
    cars: Count = (1, 5)
    car_scale: float = 1.0


# version 2: one layout for both domains (appearance gap only)
SHARED_LAYOUT = SceneLayout()
# version 3: the content shift (see the module docstring)
GTA5_LIKE_LAYOUT = SceneLayout(
    horizon=(0.30, 0.56),
    road_left=(-0.55, 0.02),
    road_right=(0.98, 1.55),
    sidewalk=(0.14, 0.32),
    block_divisors=(8, 3),
    block_top=(0.04, 0.18),
    block_top_slope=0.4,
    block_prob=0.7,
    trees=(0, 4),
    poles=(0, 4),
    sign_prob=0.6,
    people=(0, 4),
    cars=(1, 5),
    car_scale=1.1)
CITYSCAPES_LIKE_LAYOUT = SceneLayout(
    horizon=(0.38, 0.48),
    road_left=(-0.22, 0.16),
    road_right=(0.84, 1.22),
    sidewalk=(0.20, 0.42),
    block_divisors=(16, 6),
    block_top=(0.12, 0.28),
    block_top_slope=0.55,
    block_prob=0.92,
    trees=(1, 5),
    street_trees=(1, 5),
    poles=(1, 5),
    sign_prob=0.7,
    people=(1, 7),
    person_scale=0.8,
    cars=(1, 4),
    car_scale=0.85)
LAYOUTS: Dict[int, Dict[str, SceneLayout]] = {
    2: dict(source=SHARED_LAYOUT, target=SHARED_LAYOUT),
    3: dict(source=GTA5_LIKE_LAYOUT, target=CITYSCAPES_LIKE_LAYOUT),
}


def _skyline(ids, inst, rng, lay, xx, yy, horizon, vx) -> int:
    """Building blocks on the horizon; returns the next instance id."""
    H, W = ids.shape
    x = 0
    obj = 1
    lo, hi = lay.block_divisors
    while x < W:
        bw = int(rng.integers(max(3, W // lo), max(4, W // hi)))
        dist = abs((x + bw / 2) - vx) / W
        top = horizon - (rng.uniform(*lay.block_top) +
                         lay.block_top_slope * dist) * H
        if rng.random() < lay.block_prob:
            ids[(yy >= top) & (yy < horizon + 1) & (xx >= x) &
                (xx < x + bw)] = BUILDING
            inst[(yy >= top) & (yy < horizon + 1) & (xx >= x) &
                 (xx < x + bw)] = obj
            obj += 1
        x += bw
    return obj


def _street_trees(ids, rng, lay, xx, yy, horizon, vx, road_l, road_r,
                  side_w) -> None:
    """Trees on the sidewalks' outer edges, far ones first."""
    H, W = ids.shape
    depths = [
        float(ty) for ty in sorted(
            rng.uniform(0.15, 0.9, size=int(rng.integers(*lay.street_trees))))
    ]
    for ty in depths:
        y_base = horizon + ty * (H - horizon)
        if rng.random() < 0.5:
            cx = vx + (road_l - vx) * ty - side_w * ty
        else:
            cx = vx + (road_r - vx) * ty + side_w * ty
        trunk_h = (0.15 + 0.35 * ty) * H
        trunk_w = max(1.0, (0.004 + 0.012 * ty) * W)
        rx = (0.03 + 0.09 * ty) * W * rng.uniform(0.8, 1.2)
        ry = rx * rng.uniform(0.6, 0.9)
        cy = y_base - trunk_h - 0.5 * ry
        trunk = (np.abs(xx - cx) <= trunk_w / 2) & (yy <= y_base) & (
            yy >= cy)
        crown = ((xx - cx) / rx)**2 + ((yy - cy) / ry)**2 <= 1
        ids[trunk | crown] = VEGETATION


def draw_layout(rng: np.random.Generator,
                width: int,
                height: int,
                layout: SceneLayout = SHARED_LAYOUT
                ) -> Tuple[np.ndarray, np.ndarray]:
    """Draw one scene layout.

    Args:
        rng (np.random.Generator): Random source.
        width (int): Image width.
        height (int): Image height.
        layout (SceneLayout): The domain's statistics. Defaults to
            :data:`SHARED_LAYOUT` (demo data version 2).

    Returns:
        tuple: ``(ids, instance)``: HxW uint8 Cityscapes label ids and an
        HxW int32 instance map (0 = stuff) used to vary object colours.
    """
    lay = layout
    H, W = height, width
    ids = np.full((H, W), SKY, dtype=np.uint8)
    inst = np.zeros((H, W), dtype=np.int32)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    horizon = rng.uniform(*lay.horizon) * H
    vx = rng.uniform(*lay.vanishing_x) * W
    # ground: building bases, sidewalks and road converge to (vx, horizon)
    t = np.clip((yy - horizon) / (H - horizon), 0, None)
    road_l = rng.uniform(*lay.road_left) * W
    road_r = rng.uniform(*lay.road_right) * W
    side_w = rng.uniform(*lay.sidewalk) * W
    left = vx + (road_l - vx) * t
    right = vx + (road_r - vx) * t
    ground = yy >= horizon
    ids[ground] = BUILDING
    ids[ground & (xx >= left - side_w * t) & (xx <= right + side_w * t)] = \
        SIDEWALK
    ids[ground & (xx >= left) & (xx <= right)] = ROAD
    obj = _skyline(ids, inst, rng, lay, xx, yy, horizon, vx)
    # trees: crowns around the horizon
    for _ in range(int(rng.integers(*lay.trees))):
        cx = rng.uniform(0, W)
        cy = horizon - rng.uniform(*lay.tree_height) * H
        rx, ry = rng.uniform(*lay.tree_rx) * W, rng.uniform(*lay.tree_ry) * H
        ids[((xx - cx) / rx)**2 + ((yy - cy) / ry)**2 <= 1] = VEGETATION
    if lay.street_trees is not None:
        _street_trees(ids, rng, lay, xx, yy, horizon, vx, road_l, road_r,
                      side_w)
    # poles with signs on the sidewalks
    for _ in range(int(rng.integers(*lay.poles))):
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
        if rng.random() < lay.sign_prob:
            s = max(2, int(round(2 + 4 * ty)))
            ids[(yy >= y_base - ph) & (yy < y_base - ph + s) &
                (xx >= edge - s // 2) & (xx < edge - s // 2 + s)] = SIGN
    # people on the sidewalks
    for _ in range(int(rng.integers(*lay.people))):
        ty = rng.uniform(0.2, 0.95)
        y_base = horizon + ty * (H - horizon)
        l_edge = vx + (road_l - vx) * ty
        r_edge = vx + (road_r - vx) * ty
        cx = (l_edge - rng.uniform(0.1, 0.9) * side_w * ty) \
            if rng.random() < 0.5 else \
            (r_edge + rng.uniform(0.1, 0.9) * side_w * ty)
        ph = (0.15 + 0.35 * ty) * H * lay.person_scale
        pw = (0.01 + 0.03 * ty) * W * lay.person_scale + 1
        body = (np.abs(xx - cx) <= pw / 2) & (yy <= y_base) & (
            yy >= y_base - ph)
        head = ((xx - cx)**2 + (yy - (y_base - ph))**2) <= (pw * 0.6)**2
        ids[body | head] = PERSON
    # cars on the road, far ones first so near ones occlude them (Python
    # floats: numpy 1 and 2 would promote a numpy float64 against the
    # float32 grids differently)
    cars = [
        float(ty) for ty in sorted(
            rng.uniform(0.15, 1.0, size=int(rng.integers(*lay.cars))))
    ]
    for ty in cars:
        y_base = horizon + ty * (H - horizon)
        l_edge = vx + (road_l - vx) * ty
        r_edge = vx + (road_r - vx) * ty
        cw = (0.08 + 0.3 * ty) * W * lay.car_scale
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
