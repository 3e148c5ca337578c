"""Cityscapes with the build-time checks of :class:`CheckedSegDataset`."""
from mmseg.datasets import CityscapesDataset as MMSegCityscapesDataset

from mmbdl.registry import DATASETS
from .checked_seg_dataset import CheckedSegDataset


@DATASETS.register_module()
class CityscapesDataset(CheckedSegDataset, MMSegCityscapesDataset):
    """MMSegmentation's Cityscapes data set, checked when built.

    Same files and classes as ``mmseg.datasets.CityscapesDataset``
    (``leftImg8bit/{split}/{city}/*_leftImg8bit.png`` with
    ``gtFine/{split}/{city}/*_gtFine_labelTrainIds.png``, made by
    ``tools/dataset_converters/cityscapes.py``); registered in the ``mmbdl``
    scope so that ``type='CityscapesDataset'`` also gets the checks of
    :class:`CheckedSegDataset` (missing root, empty split, unpaired or
    unreadable files). Without ``data_prefix['seg_map_path']`` it is an
    unlabelled target set.

    Args:
        img_suffix (str): Defaults to '_leftImg8bit.png'.
        seg_map_suffix (str): Defaults to '_gtFine_labelTrainIds.png'.
        **kwargs: Arguments of :class:`CheckedSegDataset`.
    """
    METAINFO = MMSegCityscapesDataset.METAINFO

    def __init__(self,
                 img_suffix: str = '_leftImg8bit.png',
                 seg_map_suffix: str = '_gtFine_labelTrainIds.png',
                 **kwargs) -> None:
        kwargs.setdefault('converter',
                          'tools/dataset_converters/cityscapes.py')
        CheckedSegDataset.__init__(
            self,
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            **kwargs)
