"""Write predicted label maps as PNGs (train ids or Cityscapes label ids)."""
import os.path as osp
from typing import Dict, Optional, Union

import numpy as np
import torch
from PIL import Image

from mmbdl.datasets.label_maps import CITYSCAPES_ID_TO_TRAINID
from mmbdl.utils.atomic_write import atomic_open
from mmbdl.utils.errors import ConfigCheckError

OUTPUT_FORMATS = ('train_ids', 'cityscapes_label_ids')


def trainid_to_cityscapes_id_lut() -> np.ndarray:
    """Look-up table from the 19 train ids to Cityscapes label ids.

    Everything else (255 and ids >= 19) maps to 0 (``unlabeled``), which the
    benchmark server ignores.

    Returns:
        np.ndarray: uint8 array of length 256.
    """
    lut = np.zeros(256, dtype=np.uint8)
    for label_id, train_id in CITYSCAPES_ID_TO_TRAINID.items():
        lut[train_id] = label_id
    return lut


class PredictionWriter:
    """Save one PNG per image, named after the image, into a folder.

    Each file is written to a temporary name first and then renamed, so a
    killed run never leaves a truncated PNG. Two images with the same file
    name (from different folders) would overwrite each other: that is an
    error naming both.

    Args:
        output_dir (str): Destination folder (created on first write).
        output_format (str): ``'train_ids'`` (the class indices, as
            MMSegmentation writes them) or ``'cityscapes_label_ids'`` (the
            Cityscapes benchmark server's format: label ids 7..33, 0 for
            anything else). Defaults to 'train_ids'.

    Raises:
        ConfigCheckError: For an unknown ``output_format``.
    """

    def __init__(self, output_dir: str,
                 output_format: str = 'train_ids') -> None:
        if output_format not in OUTPUT_FORMATS:
            raise ConfigCheckError(
                f'output_format must be one of {OUTPUT_FORMATS}, got '
                f'{output_format!r}')
        self.output_dir = output_dir
        self.output_format = output_format
        self._lut: Optional[np.ndarray] = (
            trainid_to_cityscapes_id_lut()
            if output_format == 'cityscapes_label_ids' else None)
        self._written: Dict[str, str] = {}

    def encode(self, pred: Union[torch.Tensor, np.ndarray],
               reduce_zero_label: bool = False) -> np.ndarray:
        """The uint8 array that is written for a prediction.

        Args:
            pred (Tensor | np.ndarray): ``H x W`` class ids.
            reduce_zero_label (bool): The data set shifted its labels by one
                (ADE20K style): shift back (train ids only). Defaults to
                False.

        Returns:
            np.ndarray: ``H x W`` uint8.

        Raises:
            ValueError: If the ids do not fit the format.
        """
        if isinstance(pred, torch.Tensor):
            pred = pred.detach().cpu().numpy()
        pred = np.asarray(pred).astype(np.int64)
        if self._lut is not None:
            bad = np.unique(pred[(pred < 0) | (pred >= 19)])
            if bad.size:
                raise ConfigCheckError(
                    f'cityscapes_label_ids needs the 19 Cityscapes train ids '
                    f'but the prediction holds {bad.tolist()[:5]}')
            return self._lut[pred]
        if reduce_zero_label:
            pred = pred + 1
        if pred.size and (pred.min() < 0 or pred.max() > 255):
            raise ConfigCheckError(
                'predicted ids outside 0..255 cannot be written '
                'as an 8-bit PNG')
        return pred.astype(np.uint8)

    def write(self, pred: Union[torch.Tensor, np.ndarray], img_path: str,
              reduce_zero_label: bool = False,
              filename: Optional[str] = None) -> str:
        """Write the PNG of one image.

        Args:
            pred (Tensor | np.ndarray): ``H x W`` class ids.
            img_path (str): The image's path; the PNG is
                ``<output_dir>/<image name without extension>.png``.
            reduce_zero_label (bool): See :meth:`encode`. Defaults to False.
            filename (str, optional): Another name, relative to
                ``output_dir`` (sub-folders are created). Defaults to None.

        Returns:
            str: The written file.
        """
        if filename is None:
            stem = osp.splitext(osp.basename(img_path))[0]
            filename = f'{stem}.png'
        path = osp.abspath(osp.join(self.output_dir, filename))
        previous = self._written.get(path)
        if previous is not None and previous != img_path:
            raise ConfigCheckError(
                f'the predictions of {previous} and {img_path} would both be '
                f'written to {path}; give the images distinct file names')
        array = self.encode(pred, reduce_zero_label)
        with atomic_open(path, 'wb', what='prediction') as f:
            Image.fromarray(array).save(f, format='PNG')
        self._written[path] = img_path
        return path
