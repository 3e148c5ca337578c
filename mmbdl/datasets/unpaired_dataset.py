"""Unpaired source/target images for the CycleGAN translator."""
import os.path as osp
from typing import List, Optional, Sequence, Union

import numpy as np
from mmengine.dataset import BaseDataset, force_full_init

from mmbdl.registry import DATASETS
from .data_checks import DataCheckError, check_dir, scan_files


@DATASETS.register_module()
class UnpairedDataset(BaseDataset):
    """Source and target images, paired at random, for MMagic's CycleGAN.

    Sample ``idx`` is source image ``idx % len(source)`` and, in training, a
    target image drawn at random (so the two domains are shuffled
    independently); with ``test_mode`` the target is ``idx % len(target)``.
    The data info holds ``img_source_path`` and ``img_target_path``, which
    ``mmagic.LoadImageFromFile(key='img_source')`` etc. read; the packed
    inputs carry the keys ``img_source`` / ``img_target`` that
    ``PerceptualCycleGAN`` (domains 'source' and 'target') expects. The
    length is that of the larger domain, as in MMagic's
    ``UnpairedImageDataset``.

    Args:
        data_root (str, optional): Root joined with the two prefixes.
            Defaults to None.
        data_prefix (dict): ``source`` and ``target`` image folders
            (scanned recursively). Defaults to
            ``dict(source='source', target='target')``.
        source_suffix (str | Sequence[str]): Endings of source images.
            Defaults to '.png'.
        target_suffix (str | Sequence[str]): Endings of target images.
            Defaults to '.png'.
        pipeline (list): Transforms. Defaults to [].
        test_mode (bool): Deterministic target choice. Defaults to False.
        **kwargs: Other arguments of ``mmengine.dataset.BaseDataset``.
    """

    def __init__(self,
                 data_root: Optional[str] = None,
                 data_prefix: dict = dict(source='source', target='target'),
                 source_suffix: Union[str, Sequence[str]] = '.png',
                 target_suffix: Union[str, Sequence[str]] = '.png',
                 pipeline: list = [],
                 test_mode: bool = False,
                 **kwargs) -> None:
        for key in ('source', 'target'):
            if key not in data_prefix:
                raise KeyError(f'UnpairedDataset: data_prefix needs the key '
                               f'{key!r}, got {dict(data_prefix)}')
        self.source_suffix = source_suffix
        self.target_suffix = target_suffix
        self.source_paths: List[str] = []
        self.target_paths: List[str] = []
        kwargs.setdefault('serialize_data', False)
        super().__init__(
            data_root=data_root,
            data_prefix=data_prefix,
            pipeline=pipeline,
            test_mode=test_mode,
            **kwargs)

    def _scan(self, key: str, suffix) -> List[str]:
        root = check_dir(self.data_prefix[key], f'UnpairedDataset: {key} '
                         'image', 'check data_root and data_prefix')
        suffixes = (suffix, ) if isinstance(suffix, str) else tuple(suffix)
        paths = sorted({osp.join(root, p) for s in suffixes
                        for p in scan_files(root, s)})
        if not paths:
            raise DataCheckError(
                f'UnpairedDataset: no {key} image ending with {suffix!r} '
                f'below {root}')
        return paths

    def load_data_list(self) -> List[dict]:
        """Scan both image folders.

        Returns:
            list[dict]: One info per source image (``img_source_path``).
        """
        self.source_paths = self._scan('source', self.source_suffix)
        self.target_paths = self._scan('target', self.target_suffix)
        return [dict(img_source_path=p) for p in self.source_paths]

    @force_full_init
    def __len__(self) -> int:
        return max(len(self.source_paths), len(self.target_paths))

    @force_full_init
    def get_data_info(self, idx: int) -> dict:
        """Paths of source image ``idx`` and of a target image.

        Args:
            idx (int): Sample index.

        Returns:
            dict: ``img_source_path``, ``img_target_path`` and
            ``sample_idx``.
        """
        src = self.source_paths[idx % len(self.source_paths)]
        if self.test_mode:
            tgt_idx = idx % len(self.target_paths)
        else:
            tgt_idx = np.random.randint(len(self.target_paths))
        return dict(img_source_path=src,
                    img_target_path=self.target_paths[tgt_idx],
                    sample_idx=idx)
