"""GTA5 ("Playing for Data") in the 19 Cityscapes train ids."""
from mmbdl.registry import DATASETS
from .checked_seg_dataset import CheckedSegDataset
from .label_maps import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE


@DATASETS.register_module()
class GTA5Dataset(CheckedSegDataset):
    """GTA5: ``images/NNNNN.png`` with ``labels/NNNNN_labelTrainIds.png``.

    The train-id labels are written next to the distributed id labels by
    ``tools/dataset_converters/gta5.py``. A few GTA5 images come in another
    size than their label; they are listed when the data set is built and
    kept by default (the release's fixed resize of both keeps them usable);
    ``size_mismatch='skip'`` drops them, e.g. for random-crop pipelines.

    Args:
        img_suffix (str): Defaults to '.png'.
        seg_map_suffix (str): Defaults to '_labelTrainIds.png'.
        data_prefix (dict): Defaults to
            ``dict(img_path='images', seg_map_path='labels')``.
        **kwargs: Arguments of :class:`CheckedSegDataset`.
    """
    METAINFO = dict(classes=CITYSCAPES_CLASSES, palette=CITYSCAPES_PALETTE)

    def __init__(self,
                 img_suffix: str = '.png',
                 seg_map_suffix: str = '_labelTrainIds.png',
                 data_prefix: dict = dict(
                     img_path='images', seg_map_path='labels'),
                 **kwargs) -> None:
        kwargs.setdefault('converter', 'tools/dataset_converters/gta5.py')
        super().__init__(
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            data_prefix=data_prefix,
            **kwargs)
