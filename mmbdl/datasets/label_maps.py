"""Class tables and label-id maps of the BDL data sets (docs/method_facts.md,
"Label maps").

All three data sets are trained and evaluated in the 19-class Cityscapes
train-id space; everything outside a map becomes 255 (ignore).
"""
from typing import Dict, Tuple

import numpy as np

CITYSCAPES_CLASSES: Tuple[str, ...] = (
    'road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light',
    'traffic sign', 'vegetation', 'terrain', 'sky', 'person', 'rider', 'car',
    'truck', 'bus', 'train', 'motorcycle', 'bicycle')

CITYSCAPES_PALETTE = [[128, 64, 128], [244, 35, 232], [70, 70, 70],
                      [102, 102, 156], [190, 153, 153], [153, 153, 153],
                      [250, 170, 30], [220, 220, 0], [107, 142, 35],
                      [152, 251, 152], [70, 130, 180], [220, 20, 60],
                      [255, 0, 0], [0, 0, 142], [0, 0, 70], [0, 60, 100],
                      [0, 80, 100], [0, 0, 230], [119, 11, 32]]

IGNORE_INDEX = 255

# Cityscapes label ids (also used by GTA5) -> train ids.
CITYSCAPES_ID_TO_TRAINID: Dict[int, int] = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9,
    23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18
}
# Ids a Cityscapes/GTA5 label may hold: 0..33 (the unmapped ones are void).
CITYSCAPES_KNOWN_IDS = tuple(range(34))

# SYNTHIA-RAND-CITYSCAPES class ids -> train ids (the release's full map).
SYNTHIA_ID_TO_TRAINID: Dict[int, int] = {
    3: 0, 4: 1, 2: 2, 21: 3, 5: 4, 7: 5, 15: 6, 9: 7, 6: 8, 16: 9, 1: 10,
    10: 11, 17: 12, 8: 13, 18: 14, 19: 15, 20: 16, 12: 17, 11: 18
}
# SYNTHIA-RAND-CITYSCAPES ids 0..22 (0 void, 13 parking slot, 14 road work,
# 22 lane marking are known but unmapped).
SYNTHIA_KNOWN_IDS = tuple(range(23))
# Train ids that do not occur in SYNTHIA-RAND-CITYSCAPES.
SYNTHIA_ABSENT_CLASSES: Tuple[str, ...] = ('terrain', 'truck', 'train')

# Class subsets of the SYNTHIA protocol, as train ids.
MIOU16_CLASS_IDS = tuple(i for i in range(19) if i not in (9, 14, 16))
MIOU13_CLASS_IDS = tuple(i for i in MIOU16_CLASS_IDS if i not in (3, 4, 5))


def build_lut(id_to_trainid: Dict[int, int], size: int) -> np.ndarray:
    """Look-up table mapping label ids to train ids (255 elsewhere).

    Args:
        id_to_trainid (dict[int, int]): The id map.
        size (int): Number of entries (256 for uint8, 65536 for uint16).

    Returns:
        np.ndarray: uint8 array of length ``size``.
    """
    lut = np.full(size, IGNORE_INDEX, dtype=np.uint8)
    for label_id, train_id in id_to_trainid.items():
        lut[label_id] = train_id
    return lut


def cityscapes_metainfo() -> dict:
    """Fresh ``metainfo`` dict of the 19 Cityscapes classes."""
    return dict(classes=CITYSCAPES_CLASSES,
                palette=[list(c) for c in CITYSCAPES_PALETTE])
