"""SYNTHIA-RAND-CITYSCAPES in the 19 Cityscapes train ids."""
from mmbdl.registry import DATASETS
from .checked_seg_dataset import CheckedSegDataset
from .label_maps import (CITYSCAPES_CLASSES, CITYSCAPES_PALETTE,
                         SYNTHIA_ABSENT_CLASSES)


@DATASETS.register_module()
class SynthiaDataset(CheckedSegDataset):
    """SYNTHIA: ``RGB/N.png`` with ``GT/LABELS/N_labelTrainIds.png``.

    The labels use the 19 Cityscapes train ids (written by
    ``tools/dataset_converters/synthia.py`` from the 16-bit ``GT/LABELS``);
    ``metainfo['absent_classes']`` names the classes that SYNTHIA does not
    contain (terrain, truck, train), which is why SYNTHIA results are also
    reported as mIoU16 / mIoU13.

    Args:
        img_suffix (str): Defaults to '.png'.
        seg_map_suffix (str): Defaults to '_labelTrainIds.png'.
        data_prefix (dict): Defaults to
            ``dict(img_path='RGB', seg_map_path='GT/LABELS')``.
        **kwargs: Arguments of :class:`CheckedSegDataset`.
    """
    METAINFO = dict(
        classes=CITYSCAPES_CLASSES,
        palette=CITYSCAPES_PALETTE,
        absent_classes=SYNTHIA_ABSENT_CLASSES)

    def __init__(self,
                 img_suffix: str = '.png',
                 seg_map_suffix: str = '_labelTrainIds.png',
                 data_prefix: dict = dict(
                     img_path='RGB', seg_map_path='GT/LABELS'),
                 **kwargs) -> None:
        kwargs.setdefault('converter', 'tools/dataset_converters/synthia.py')
        super().__init__(
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            data_prefix=data_prefix,
            **kwargs)
