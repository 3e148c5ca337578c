from .adverse_conditions import ACDCDataset, DarkZurichDataset
from .checked_seg_dataset import CheckedSegDataset
from .cityscapes import CityscapesDataset
from .gta5 import GTA5Dataset
from .image_folder_target import ImageFolderTargetDataset
from .synthia import SynthiaDataset
from .transforms import *  # noqa: F401,F403
from .uda_dataset import UDADataset
from .unpaired_dataset import UnpairedDataset

__all__ = [
    'ACDCDataset', 'DarkZurichDataset', 'ImageFolderTargetDataset',
    'CheckedSegDataset', 'CityscapesDataset', 'GTA5Dataset',
    'SynthiaDataset', 'UDADataset', 'UnpairedDataset'
]
