"""A user's own unlabelled target images as a BDL target set."""
from typing import Optional

from mmbdl.registry import DATASETS
from mmbdl.utils.errors import ConfigCheckError
from .checked_seg_dataset import CheckedSegDataset
from .label_maps import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE


@DATASETS.register_module()
class ImageFolderTargetDataset(CheckedSegDataset):
    """Every image below one folder, without labels, in the 19 classes.

    The target domain of a BDL run only needs images: the adversarial loss
    and the pseudo-labels never read target labels. The classes default to
    the 19 Cityscapes classes of the source sets; a different class list is
    refused by :class:`~mmbdl.datasets.UDADataset`, which prints both lists
    side by side. Images are found recursively; names relative to the folder
    (without the suffix) name the pseudo-label files.

    Args:
        img_dir (str): Folder with the images, relative to ``data_root``.
            Defaults to ''.
        img_suffix (str): File-name ending, e.g. '.jpg'. Defaults to '.png'.
        converter (str, optional): Named in errors. Defaults to None.
        **kwargs: Arguments of :class:`CheckedSegDataset` (``data_root``,
            ``pipeline``, ``metainfo``, ...).
    """

    METAINFO = dict(classes=CITYSCAPES_CLASSES, palette=CITYSCAPES_PALETTE)

    def __init__(self,
                 img_dir: str = '',
                 img_suffix: str = '.png',
                 converter: Optional[str] = None,
                 **kwargs) -> None:
        if 'seg_map_path' in kwargs.get('data_prefix', {}):
            raise ConfigCheckError(
                'ImageFolderTargetDataset is unlabelled; for a labelled '
                'validation set use CheckedSegDataset with '
                'data_prefix=dict(img_path=..., seg_map_path=...)')
        kwargs.setdefault('data_prefix', dict(img_path=img_dir))
        super().__init__(img_suffix=img_suffix, converter=converter,
                         **kwargs)
