"""An MMSegmentation data set that validates its folders when built."""
import os.path as osp
from typing import List, Optional

from mmengine.logging import print_log
from mmseg.datasets import BaseSegDataset

from mmbdl.registry import DATASETS
from mmbdl.utils.errors import ConfigCheckError, MissingFileError
from .data_checks import (DataCheckError, check_dir, format_names,
                          read_sizes_cached, scan_files)

SIZE_MISMATCH_ACTIONS = ('warn', 'skip', 'error')


@DATASETS.register_module()
class CheckedSegDataset(BaseSegDataset):
    """``BaseSegDataset`` that checks its files when it is built.

    On top of MMSegmentation's folder scan it raises, naming the files and
    the fix, for: a missing image or label folder, a split without images,
    an image without its label and a label without its image (only when no
    ``ann_file`` selects the images), and, with ``check_files``, a file whose
    PNG header cannot be read. Image/label pairs whose sizes differ are
    warned about, skipped or refused (``size_mismatch``). A data set without
    ``data_prefix['seg_map_path']`` is unlabelled and only images are checked.

    Args:
        check_files (bool): Read every image and label header (size,
            readability; about 0.3 ms per file). The result is cached in
            the process by a fingerprint of the files' paths, sizes and
            modification times, so rebuilding the same unchanged data set
            (every phase of the BDL loop does) only stats the files.
            Defaults to True.
        size_mismatch (str): What to do with an image whose size differs
            from its label's: 'warn' (keep it, list the names), 'skip'
            (drop it, list the names) or 'error'. Defaults to 'warn'.
        converter (str, optional): The converter that makes the labels, named
            in the message for missing labels. Defaults to None.
        **kwargs: Arguments of :class:`mmseg.datasets.BaseSegDataset`.
    """

    def __init__(self,
                 *args,
                 check_files: bool = True,
                 size_mismatch: str = 'warn',
                 converter: Optional[str] = None,
                 **kwargs) -> None:
        if size_mismatch not in SIZE_MISMATCH_ACTIONS:
            raise ConfigCheckError(
                f'size_mismatch must be one of '
                f'{SIZE_MISMATCH_ACTIONS}, got {size_mismatch!r}')
        self.check_files = check_files
        self.size_mismatch = size_mismatch
        self.converter = converter
        self.skipped_files: List[str] = []
        super().__init__(*args, **kwargs)

    # ------------------------------------------------------------------
    def _name(self) -> str:
        return f'{type(self).__name__}(data_root={self.data_root!r})'

    def _convert_hint(self) -> str:
        if self.converter is None:
            return ''
        return f'; make them with `python {self.converter} {self.data_root}`'

    def load_data_list(self) -> List[dict]:
        """Scan the folders like MMSegmentation, then validate the result.

        Returns:
            list[dict]: The data infos.

        Raises:
            FileNotFoundError: For a missing data root or folder.
            DataCheckError: For an empty split, unpaired or unreadable files
                and (with ``size_mismatch='error'``) size mismatches.
        """
        if self.data_root is not None and not osp.isdir(self.data_root):
            raise MissingFileError(
                f'{self._name()}: the data root does not exist; set '
                '`data_root` to the folder that holds the data set (see '
                'configs/_base_/datasets/ for the expected layout)')
        img_dir = self.data_prefix.get('img_path')
        ann_dir = self.data_prefix.get('seg_map_path')
        check_dir(img_dir, f'{self._name()}: image',
                  'check data_root and data_prefix["img_path"]')
        if ann_dir is not None:
            check_dir(ann_dir, f'{self._name()}: label',
                      'check data_prefix["seg_map_path"]' +
                      self._convert_hint())
        use_ann_file = bool(self.ann_file) and not osp.isdir(self.ann_file)
        if use_ann_file and not osp.isfile(self.ann_file):
            raise MissingFileError(
                f'{self._name()}: ann_file {self.ann_file} does not exist')
        data_list = super().load_data_list()
        if not data_list:
            raise DataCheckError(
                f'{self._name()}: no image ending with {self.img_suffix!r} '
                f'below {img_dir}; check data_prefix["img_path"] and '
                'img_suffix')
        if ann_dir is not None:
            self._check_pairs(data_list, ann_dir, check_extra=not use_ann_file)
        if self.check_files:
            data_list = self._check_headers(data_list)
        return data_list

    def _check_pairs(self, data_list: List[dict], ann_dir: str,
                     check_extra: bool) -> None:
        missing = [d['img_path'] for d in data_list
                   if not osp.isfile(d['seg_map_path'])]
        if missing:
            first = data_list[[d['img_path'] for d in data_list].index(
                missing[0])]['seg_map_path']
            raise DataCheckError(
                f'{self._name()}: {len(missing)} image(s) have no label '
                f'(expected e.g. {first}): {format_names(missing)}; remove '
                'the images or add their labels' + self._convert_hint())
        if not check_extra:
            return
        expected = {osp.relpath(d['seg_map_path'], ann_dir)
                    for d in data_list}
        extra = [osp.join(ann_dir, rel)
                 for rel in scan_files(ann_dir, self.seg_map_suffix)
                 if rel not in expected]
        if extra:
            raise DataCheckError(
                f'{self._name()}: {len(extra)} label(s) have no image '
                f'(ending {self.img_suffix!r}) below '
                f'{self.data_prefix["img_path"]}: {format_names(extra)}; '
                'restore the images or remove the labels')

    def _check_headers(self, data_list: List[dict]) -> List[dict]:
        paths = [d['img_path'] for d in data_list]
        paths += [d['seg_map_path'] for d in data_list if 'seg_map_path' in d]
        sizes = read_sizes_cached(paths)
        bad = [f'{p} ({reason})' for p, (size, reason) in sizes.items()
               if size is None]
        if bad:
            raise DataCheckError(
                f'{self._name()}: {len(bad)} file(s) cannot be read as '
                f'images: {format_names(bad)}; replace or remove them')
        mismatched = [
            d for d in data_list if 'seg_map_path' in d
            and sizes[d['img_path']][0] != sizes[d['seg_map_path']][0]
        ]
        if not mismatched:
            return data_list
        names = [f'{osp.basename(d["img_path"])} '
                 f'{sizes[d["img_path"]][0]} vs label '
                 f'{sizes[d["seg_map_path"]][0]}' for d in mismatched]
        msg = (f'{self._name()}: {len(mismatched)} image(s) differ in size '
               f'from their label: {format_names(names)}')
        if self.size_mismatch == 'error':
            raise DataCheckError(msg + '; pass size_mismatch="skip" to drop '
                                 'them or "warn" to keep them')
        if self.size_mismatch == 'skip':
            print_log(msg + '; skipped', logger='current', level=30)
            self.skipped_files = [d['img_path'] for d in mismatched]
            drop = set(self.skipped_files)
            return [d for d in data_list if d['img_path'] not in drop]
        print_log(msg + '; kept (a fixed resize of image and label keeps '
                  'them usable; pass size_mismatch="skip" to drop them)',
                  logger='current', level=30)
        return data_list
