"""ACDC and Dark Zurich: adverse-condition targets in the Cityscapes classes.

Both are distributed with anonymised RGB images ``*_rgb_anon.png`` and, for
the labelled splits, Cityscapes label ids ``*_gt_labelIds.png`` next to
train ids ``*_gt_labelTrainIds.png``:

- ACDC: ``rgb_anon/{condition}/{split}/{sequence}/*_rgb_anon.png`` and
  ``gt/{condition}/{split}/{sequence}/*_gt_labelTrainIds.png`` with
  conditions fog, night, rain and snow and splits train, val (labelled)
  and test (no public labels).
- Dark Zurich: ``rgb_anon/{split}/{condition}/{sequence}/*_rgb_anon.png``
  (train: day, twilight and night; val: night) and
  ``gt/val/night/{sequence}/*_gt_labelTrainIds.png``.

Both use the 19 Cityscapes classes, so they can replace Cityscapes as the
target of any BDL config.
"""
import copy
import os.path as osp
from typing import List, Sequence, Union

from mmbdl.registry import DATASETS
from mmbdl.utils.errors import ConfigCheckError
from .checked_seg_dataset import CheckedSegDataset
from .data_checks import DataCheckError
from .label_maps import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE

ACDC_CONDITIONS = ('fog', 'night', 'rain', 'snow')
ACDC_SPLITS = ('train', 'val', 'test')
DARK_ZURICH_CONDITIONS = ('day', 'twilight', 'night')
DARK_ZURICH_SPLITS = ('train', 'val', 'test')


def _as_tuple(value: Union[str, Sequence[str]]) -> tuple:
    return (value, ) if isinstance(value, str) else tuple(value)


class _MultiFolderDataset(CheckedSegDataset):
    """A checked data set whose images come from several sub-folders.

    ``folders`` lists ``(image folder, label folder)`` pairs relative to
    ``data_root``; each pair is scanned like MMSegmentation's single folder
    and the lists are concatenated in order.
    """

    METAINFO = dict(classes=CITYSCAPES_CLASSES, palette=CITYSCAPES_PALETTE)

    def __init__(self, folders: List[tuple], labelled: bool,
                 **kwargs) -> None:
        self._folders = folders
        self._labelled = labelled
        first_img, first_ann = folders[0]
        kwargs.setdefault('data_prefix', dict(
            img_path=first_img, **(dict(seg_map_path=first_ann)
                                   if labelled else {})))
        super().__init__(**kwargs)

    def load_data_list(self) -> List[dict]:
        """Concatenate the scans of every folder pair.

        Returns:
            list[dict]: The data infos.
        """
        data_list: List[dict] = []
        saved = copy.deepcopy(self.data_prefix)
        root = self.data_root or ''
        try:
            for img_dir, ann_dir in self._folders:
                prefix = dict(img_path=osp.join(root, img_dir))
                if self._labelled:
                    prefix['seg_map_path'] = osp.join(root, ann_dir)
                self.data_prefix = prefix
                data_list += super().load_data_list()
        finally:
            self.data_prefix = saved
        return data_list


@DATASETS.register_module()
class ACDCDataset(_MultiFolderDataset):
    """ACDC (Adverse Conditions Dataset with Correspondences).

    Args:
        conditions (str | Sequence[str]): Any of 'fog', 'night', 'rain',
            'snow'. Defaults to all four.
        split (str): 'train', 'val' or 'test'. Defaults to 'train'.
        labelled (bool): Load ``gt/`` labels (False for an unlabelled
            target set and for the test split). Defaults to True.
        img_suffix (str): Defaults to '_rgb_anon.png'.
        seg_map_suffix (str): Defaults to '_gt_labelTrainIds.png'.
        **kwargs: Arguments of :class:`CheckedSegDataset` (``data_root``,
            ``pipeline``, ...). ``data_prefix`` is derived from
            ``conditions`` and ``split``.
    """

    def __init__(self,
                 conditions: Union[str, Sequence[str]] = ACDC_CONDITIONS,
                 split: str = 'train',
                 labelled: bool = True,
                 img_suffix: str = '_rgb_anon.png',
                 seg_map_suffix: str = '_gt_labelTrainIds.png',
                 **kwargs) -> None:
        conditions = _as_tuple(conditions)
        bad = [c for c in conditions if c not in ACDC_CONDITIONS]
        if bad or not conditions:
            raise ConfigCheckError(
                f'ACDCDataset: unknown conditions {bad}; use '
                f'some of {ACDC_CONDITIONS}')
        if split not in ACDC_SPLITS:
            raise ConfigCheckError(f'ACDCDataset: split must be one of '
                                   f'{ACDC_SPLITS}, got {split!r}')
        if split == 'test' and labelled:
            raise DataCheckError(
                'ACDCDataset: the test split has no public labels; pass '
                'labelled=False (evaluate on the ACDC server) or use '
                "split='val'")
        self.conditions = conditions
        self.split = split
        kwargs.setdefault('converter', 'tools/dataset_converters/acdc.py')
        folders = [(osp.join('rgb_anon', c, split), osp.join('gt', c, split))
                   for c in conditions]
        super().__init__(folders, labelled, img_suffix=img_suffix,
                         seg_map_suffix=seg_map_suffix, **kwargs)


@DATASETS.register_module()
class DarkZurichDataset(_MultiFolderDataset):
    """Dark Zurich: night-time driving with day/twilight correspondences.

    Only the night images of the val split have public labels (``gt/val/
    night``); the train split is the unlabelled UDA target set.

    Args:
        split (str): 'train', 'val' or 'test'. Defaults to 'train'.
        conditions (str | Sequence[str]): Any of 'day', 'twilight',
            'night'. Defaults to 'night'.
        labelled (bool, optional): Load ``gt/`` labels. Defaults to None:
            True for val, False otherwise.
        img_suffix (str): Defaults to '_rgb_anon.png'.
        seg_map_suffix (str): Defaults to '_gt_labelTrainIds.png'.
        **kwargs: Arguments of :class:`CheckedSegDataset`.
    """

    def __init__(self,
                 split: str = 'train',
                 conditions: Union[str, Sequence[str]] = 'night',
                 labelled: bool = None,
                 img_suffix: str = '_rgb_anon.png',
                 seg_map_suffix: str = '_gt_labelTrainIds.png',
                 **kwargs) -> None:
        conditions = _as_tuple(conditions)
        bad = [c for c in conditions if c not in DARK_ZURICH_CONDITIONS]
        if bad or not conditions:
            raise ConfigCheckError(
                f'DarkZurichDataset: unknown conditions {bad}; '
                f'use some of {DARK_ZURICH_CONDITIONS}')
        if split not in DARK_ZURICH_SPLITS:
            raise ConfigCheckError(f'DarkZurichDataset: split must be one of '
                                   f'{DARK_ZURICH_SPLITS}, got {split!r}')
        if labelled is None:
            labelled = split == 'val'
        if labelled and (split != 'val' or conditions != ('night', )):
            raise DataCheckError(
                f'DarkZurichDataset: only split="val", conditions="night" '
                f'has public labels, got split={split!r}, conditions='
                f'{conditions}; pass labelled=False')
        self.conditions = conditions
        self.split = split
        kwargs.setdefault('converter',
                          'tools/dataset_converters/dark_zurich.py')
        folders = [(osp.join('rgb_anon', split, c), osp.join('gt', split, c))
                   for c in conditions]
        super().__init__(folders, labelled, img_suffix=img_suffix,
                         seg_map_suffix=seg_map_suffix, **kwargs)
