"""Rare-class sampling (RCS) of source images, after DAFormer.

Each source draw first picks a class ``c`` with probability

    p(c) = exp((1 - f_c) / T) / sum_c' exp((1 - f_c') / T)

where ``f_c`` is the fraction of the labelled source pixels that belong to
``c`` (rare classes get a high ``1 - f_c``) and ``T`` the temperature, then
an image uniformly among the images that hold at least ``min_pixels`` pixels
of ``c``. A small ``T`` concentrates the draws on the rarest classes; a large
one approaches uniform class sampling. The pixel counts come from the
``sample_class_stats.json`` file the label converters write next to a data
set (``tools/dataset_converters/*.py``).
"""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mmbdl.utils.errors import ConfigCheckError
from .data_checks import DataCheckError, format_names

STATS_FILE = 'sample_class_stats.json'


def rcs_class_probs(class_pixels: Dict[int, int],
                    temperature: float) -> Tuple[List[int], np.ndarray]:
    """Classes and their RCS probabilities from total pixel counts.

    Args:
        class_pixels (dict[int, int]): Labelled pixels per class id; classes
            with no pixel are left out.
        temperature (float): ``T`` > 0.

    Returns:
        tuple: ``(classes, probs)``: the class ids (ascending) and
        ``softmax((1 - f) / T)`` over them.
    """
    if temperature <= 0:
        raise ConfigCheckError(
            f'rare_class_sampling.temperature must be > 0, got '
            f'{temperature}')
    classes = sorted(c for c, n in class_pixels.items() if n > 0)
    if not classes:
        raise ConfigCheckError('rare-class sampling: no class has any pixel')
    counts = np.array([class_pixels[c] for c in classes], dtype=np.float64)
    freq = counts / counts.sum()
    logits = (1.0 - freq) / temperature
    logits -= logits.max()
    probs = np.exp(logits)
    return classes, probs / probs.sum()


class RareClassSampler:
    """Draws source indices by rare-class sampling.

    Args:
        label_names (Sequence[str]): Each source sample's label path relative
            to the data set's ``data_root`` (the keys of the statistics
            file), in data-set order.
        stats_file (str): The converter's ``sample_class_stats.json``.
        temperature (float): ``T``. DAFormer uses 0.01.
        min_pixels (int): An image is a candidate for class ``c`` if it holds
            at least this many pixels of ``c``. DAFormer uses 3000 (for
            1280x720 GTA5 labels).
        num_classes (int): Class ids counted (``0..num_classes-1``; 255 and
            other ids are ignored). Defaults to 19.
        converter (str, optional): The command that writes ``stats_file``,
            named in errors.
    """

    def __init__(self,
                 label_names: Sequence[str],
                 stats_file: str,
                 temperature: float = 0.01,
                 min_pixels: int = 3000,
                 num_classes: int = 19,
                 converter: Optional[str] = None) -> None:
        fix = (f'; write it with `python {converter}`' if converter else
               '; write it with the converter of the source data set '
               '(tools/dataset_converters/<dataset>.py <data_root>)')
        if not osp.isfile(stats_file):
            raise DataCheckError(
                f'rare-class sampling needs the per-image class counts '
                f'{stats_file}, which does not exist{fix}')
        with open(stats_file) as f:
            images = json.load(f).get('images')
        if not isinstance(images, dict):
            raise DataCheckError(
                f'{stats_file} has no "images" table of per-image class '
                f'counts{fix}')
        missing = [n for n in label_names if n not in images]
        if missing:
            raise DataCheckError(
                f'rare-class sampling: {len(missing)} of {len(label_names)} '
                f'source labels have no class counts in {stats_file}: '
                f'{format_names(missing)}; the file is stale or belongs to '
                f'another data set{fix}')
        self.temperature = float(temperature)
        self.min_pixels = int(min_pixels)
        totals: Dict[int, int] = {}
        per_class: Dict[int, List[int]] = {}
        for index, name in enumerate(label_names):
            for key, count in images[name]['counts'].items():
                cls = int(key)
                if not 0 <= cls < num_classes:
                    continue
                totals[cls] = totals.get(cls, 0) + int(count)
                if count >= self.min_pixels:
                    per_class.setdefault(cls, []).append(index)
        # a class without any candidate image cannot be drawn
        dropped = sorted(c for c in totals if c not in per_class)
        totals = {c: n for c, n in totals.items() if c in per_class}
        if not totals:
            raise DataCheckError(
                f'rare-class sampling: no source image holds '
                f'min_pixels={self.min_pixels} pixels of any class '
                f'({stats_file}); lower rare_class_sampling.min_pixels')
        self.classes, self.probs = rcs_class_probs(totals, self.temperature)
        self.dropped_classes = dropped
        self.class_pixels = totals
        self.candidates = {c: np.array(per_class[c]) for c in self.classes}

    def sample(self, rng) -> Tuple[int, int]:
        """Draw a class and a source index holding it.

        Args:
            rng: ``np.random.Generator`` or the ``np.random`` module.

        Returns:
            tuple[int, int]: ``(class id, source index)``.
        """
        pos = int(rng.choice(len(self.classes), p=self.probs))
        cls = self.classes[pos]
        idx = int(rng.choice(self.candidates[cls]))
        return cls, idx
