"""Source/target pairs for unsupervised domain adaptation (branch format)."""
import copy
import os
import os.path as osp
from typing import List, Optional, Union

import numpy as np
import torch
from mmengine.dataset import BaseDataset
from torch.utils.data import Dataset

from mmbdl.registry import DATASETS
from mmbdl.utils.errors import ConfigCheckError, MissingFileError
from .data_checks import DataCheckError, format_names
from .rare_class_sampling import STATS_FILE, RareClassSampler

COMPLETE_MARKER = '.complete.json'


def side_by_side(source: List[str], target: List[str]) -> str:
    """Two class lists as aligned columns, differing rows marked ``*``.

    Args:
        source (list[str]): Source classes.
        target (list[str]): Target classes.

    Returns:
        str: One line per index.
    """
    width = max([len('source')] + [len(str(c)) for c in source])
    lines = [f'      {"source":<{width}}  target']
    for i in range(max(len(source), len(target))):
        a = str(source[i]) if i < len(source) else '-'
        b = str(target[i]) if i < len(target) else '-'
        mark = ' ' if a == b else '*'
        lines.append(f'  {mark}{i:>3} {a:<{width}}  {b}')
    return '\n'.join(lines)


def _build(cfg: Union[dict, BaseDataset]) -> BaseDataset:
    if isinstance(cfg, dict) or hasattr(cfg, 'to_dict'):
        return DATASETS.build(copy.deepcopy(cfg))
    return cfg


def _img_root(dataset: BaseDataset, role: str) -> str:
    prefix = getattr(dataset, 'data_prefix', None) or {}
    root = prefix.get('img_path') if isinstance(prefix, dict) else None
    if not root:
        raise ConfigCheckError(
            f'the {role} data set {type(dataset).__name__} has no '
            'data_prefix["img_path"], which names the image root that '
            f'{role} file names are relative to')
    return root


def _rel_name(img_path: str, root: str) -> str:
    rel = osp.relpath(osp.abspath(img_path), osp.abspath(root))
    return osp.splitext(rel)[0]


@DATASETS.register_module()
class UDADataset(Dataset):
    """Pairs every source sample with a random target sample.

    ``__getitem__`` returns MMDetection's branch format::

        dict(inputs=dict(source=Tensor[3,H,W] uint8, target=Tensor[3,h,w]),
             data_samples=dict(source=SegDataSample, target=SegDataSample))

    The source sample carries ``gt_sem_seg``. The target sample carries one
    only when ``pseudo_label_dir`` is set: the target pipeline should then
    hold :class:`LoadPseudoLabel` (which reads ``<pseudo_dir>/<rel>.png`` and,
    where present, the soft weight ``<rel>.weight.png``) and
    :class:`PackBDLSegInputs`. With ``translated_source_dir`` the source
    images are read from ``<translated_dir>/<rel>.png`` and the labels from
    the original source set. ``<rel>`` is an image's path relative to its
    data set's ``data_prefix['img_path']``, without the extension. Both
    directories must be complete (hold ``.complete.json``) and cover every
    image; this is checked when the data set is built.

    The length is that of the source set. The target index is drawn from a
    generator seeded with ``(seed, rank, worker id)`` (``seed=None``: NumPy's
    global generator, which MMEngine seeds per worker).

    With ``rare_class_sampling`` (DAFormer's RCS) the source index given to
    ``__getitem__`` is ignored: a class is drawn with probability
    ``softmax((1 - f_c) / temperature)`` (``f_c``: the class's share of the
    labelled source pixels), then a source image holding at least
    ``min_pixels`` pixels of it (see
    :class:`~mmbdl.datasets.rare_class_sampling.RareClassSampler`). The
    counts are read from ``sample_class_stats.json`` in the source set's
    ``data_root``, which the label converters write. If the source pipeline
    crops and the crop keeps fewer than ``min_pixels * min_crop_ratio``
    pixels of the class, the same image is loaded again (a new crop), up to
    10 times, as DAFormer does.

    Args:
        source (dict | BaseDataset): Labelled source data set (config).
        target (dict | BaseDataset): Target training data set (config); its
            pipeline must not load ground-truth labels.
        translated_source_dir (str, optional): Translated source images.
            Defaults to None. In the BDL loop, set for each phase whose
            kind consumes the translated source set, from the loop's
            ``PhaseArtifacts``.
        pseudo_label_dir (str, optional): Pseudo-labels of the target set.
            Defaults to None. In the BDL loop, set for each phase whose
            kind consumes pseudo-labels (None for the other phases training
            M).
        seed (int, optional): Seed of the target sampling. Defaults to None.
        check_complete (bool): Require ``.complete.json`` in the two
            directories. Defaults to True.
        rare_class_sampling (dict, optional): Enables RCS. Keys:
            ``temperature`` (0.01), ``min_pixels`` (3000), ``min_crop_ratio``
            (0.5) and ``stats_file`` (default:
            ``<source data_root>/sample_class_stats.json``). Defaults to None
            (sequential source indices).
    """

    RCS_DEFAULTS = dict(temperature=0.01, min_pixels=3000,
                        min_crop_ratio=0.5, stats_file=None)
    RCS_MAX_CROP_TRIES = 10

    def __init__(self,
                 source: Union[dict, BaseDataset],
                 target: Union[dict, BaseDataset],
                 translated_source_dir: Optional[str] = None,
                 pseudo_label_dir: Optional[str] = None,
                 seed: Optional[int] = None,
                 check_complete: bool = True,
                 rare_class_sampling: Optional[dict] = None) -> None:
        self.source = _build(source)
        self.target = _build(target)
        self.translated_source_dir = translated_source_dir
        self.pseudo_label_dir = pseudo_label_dir
        self.seed = seed
        self.check_complete = check_complete
        self._rng = None
        self._rng_key = None
        self._check_classes()
        self._metainfo = copy.deepcopy(self.target.metainfo)
        if len(self.source) == 0 or len(self.target) == 0:
            raise DataCheckError(
                'UDADataset: the '
                f'{"target" if len(self.source) else "source"} data set is '
                'empty')
        self._translated: Optional[List[str]] = None
        self._pseudo: Optional[List[str]] = None
        if translated_source_dir is not None:
            self._translated = self._index_dir(
                translated_source_dir, self.source, 'source',
                'translated source', 'tools/translate.py')
        if pseudo_label_dir is not None:
            self._pseudo = self._index_dir(
                pseudo_label_dir, self.target, 'target', 'pseudo-label',
                'tools/pseudo_label.py')
            self._has_weights = self._check_weights()
        self.rcs_cfg: Optional[dict] = None
        self.rcs: Optional[RareClassSampler] = None
        if rare_class_sampling is not None:
            self._build_rcs(dict(rare_class_sampling))

    # ------------------------------------------------------------------
    def _check_classes(self) -> None:
        src = list(self.source.metainfo.get('classes') or ())
        tgt = list(self.target.metainfo.get('classes') or ())
        if src and src == tgt:
            return
        raise ConfigCheckError(
            'UDADataset: source and target data sets must have the same '
            f'classes in the same order; got {len(src)} source '
            f'({type(self.source).__name__}) and {len(tgt)} target '
            f'({type(self.target).__name__}) classes:\n'
            + side_by_side(src, tgt) + '\nset the same metainfo.classes on '
            'both (a target set of other classes cannot be adapted to: BDL '
            'trains and evaluates in the source label space)')

    def _index_dir(self, root: str, dataset: BaseDataset, role: str,
                   what: str, tool: str) -> List[str]:
        if not osp.isdir(root):
            raise MissingFileError(f'UDADataset: the {what} directory {root} '
                                   f'does not exist; write it with {tool}')
        if self.check_complete and not osp.isfile(
                osp.join(root, COMPLETE_MARKER)):
            raise DataCheckError(
                f'UDADataset: the {what} directory {root} has no '
                f'{COMPLETE_MARKER}, so it may be partial; rerun {tool} (or '
                'the phase that writes it)')
        img_root = _img_root(dataset, role)
        paths = []
        missing = []
        for idx in range(len(dataset)):
            rel = _rel_name(dataset.get_data_info(idx)['img_path'], img_root)
            path = osp.join(root, rel + '.png')
            paths.append(path)
            if not osp.isfile(path):
                missing.append(path)
        if missing:
            raise DataCheckError(
                f'UDADataset: {len(missing)} of {len(paths)} {role} images '
                f'have no file in the {what} directory {root}: '
                f'{format_names(missing)}; rerun {tool}')
        return paths

    def _build_rcs(self, cfg: dict) -> None:
        unknown = sorted(set(cfg) - set(self.RCS_DEFAULTS))
        if unknown:
            raise ConfigCheckError(
                f'UDADataset: unknown rare_class_sampling keys '
                f'{unknown}; valid keys: '
                f'{sorted(self.RCS_DEFAULTS)}')
        cfg = {**self.RCS_DEFAULTS, **cfg}
        data_root = getattr(self.source, 'data_root', None) or ''
        stats_file = cfg['stats_file'] or osp.join(data_root, STATS_FILE)
        names = []
        for idx in range(len(self.source)):
            seg = self.source.get_data_info(idx).get('seg_map_path')
            if seg is None:
                raise DataCheckError(
                    'UDADataset: rare_class_sampling needs a labelled source '
                    f'set, but {type(self.source).__name__} has no '
                    'seg_map_path; set data_prefix["seg_map_path"]')
            names.append(osp.relpath(osp.abspath(seg),
                                     osp.abspath(data_root)))
        converter = getattr(self.source, 'converter', None)
        command = f'{converter} {data_root}' if converter else None
        self.rcs_cfg = cfg
        self.rcs = RareClassSampler(
            names, stats_file, temperature=cfg['temperature'],
            min_pixels=cfg['min_pixels'],
            num_classes=len(self.source.metainfo['classes']),
            converter=command)

    def _check_weights(self) -> bool:
        weights = [osp.isfile(p[:-len('.png')] + '.weight.png')
                   for p in self._pseudo]
        if any(weights) and not all(weights):
            missing = [p for p, w in zip(self._pseudo, weights) if not w]
            raise DataCheckError(
                f'UDADataset: soft weights exist for some but not all '
                f'pseudo-labels in {self.pseudo_label_dir}; missing e.g. '
                f'{format_names(missing, 3)}; rerun tools/pseudo_label.py')
        return all(weights)

    # ------------------------------------------------------------------
    @property
    def metainfo(self) -> dict:
        """The target set's metainfo (classes, palette)."""
        return copy.deepcopy(self._metainfo)

    def full_init(self) -> None:
        """Nothing to do: the two data sets are built in ``__init__``."""

    def __len__(self) -> int:
        return len(self.source)

    def _generator(self) -> np.random.Generator:
        info = torch.utils.data.get_worker_info()
        worker = info.id if info is not None else -1
        from mmengine.dist import get_rank
        key = (os.getpid(), worker)
        if self._rng is None or self._rng_key != key:
            self._rng = np.random.default_rng(
                [self.seed, get_rank(), worker + 1])
            self._rng_key = key
        return self._rng

    def _target_index(self) -> int:
        if self.seed is None:
            return int(np.random.randint(len(self.target)))
        return int(self._generator().integers(len(self.target)))

    def _rcs_draw(self):
        """A rare-class draw: ``(class id, source index)``."""
        rng = np.random if self.seed is None else self._generator()
        return self.rcs.sample(rng)

    def get_data_info(self, idx: int) -> dict:
        """Data infos of source sample ``idx`` and a random target sample.

        Args:
            idx (int): Source index (with rare-class sampling, the index of
                the source image that was drawn).

        Returns:
            dict: ``source`` and ``target`` data infos (with the translated
            image path and the pseudo-label paths applied).
        """
        src = copy.deepcopy(self.source.get_data_info(idx))
        if self._translated is not None:
            src['img_path'] = self._translated[idx]
        tgt_idx = self._target_index()
        tgt = copy.deepcopy(self.target.get_data_info(tgt_idx))
        if self._pseudo is not None:
            tgt['pseudo_label_path'] = self._pseudo[tgt_idx]
            if self._has_weights:
                tgt['pseudo_weight_path'] = \
                    self._pseudo[tgt_idx][:-len('.png')] + '.weight.png'
        return dict(source=src, target=tgt)

    def _rcs_recrop(self, src: dict, info: dict, cls: int) -> dict:
        """Reload the image while the crop keeps too little of ``cls``."""
        needed = self.rcs_cfg['min_pixels'] * self.rcs_cfg['min_crop_ratio']
        if needed <= 0:
            return src
        for _ in range(self.RCS_MAX_CROP_TRIES - 1):
            sample = src['data_samples']
            if 'gt_sem_seg' not in sample or int(
                    (sample.gt_sem_seg.data == cls).sum()) > needed:
                break
            again = self.source.pipeline(copy.deepcopy(info))
            if again is None:
                break
            src = again
        return src

    def __getitem__(self, idx: int) -> dict:
        rcs_class = None
        if self.rcs is not None:
            rcs_class, idx = self._rcs_draw()
        infos = self.get_data_info(idx)
        src = self.source.pipeline(copy.deepcopy(infos['source']))
        if rcs_class is not None and src is not None:
            src = self._rcs_recrop(src, infos['source'], rcs_class)
        tgt = self.target.pipeline(infos['target'])
        for name, out in (('source', src), ('target', tgt)):
            if out is None:
                raise RuntimeError(
                    f'UDADataset: the {name} pipeline dropped '
                    f'{infos[name]["img_path"]}')
        if self._pseudo is not None and 'gt_sem_seg' not in tgt[
                'data_samples']:
            raise ConfigCheckError(
                'UDADataset: pseudo_label_dir is set but the target pipeline '
                'does not load it; add dict(type="LoadPseudoLabel") and pack '
                'with dict(type="PackBDLSegInputs")')
        if rcs_class is not None:
            src['data_samples'].set_metainfo(dict(rcs_class=rcs_class))
        return dict(
            inputs=dict(source=src['inputs'], target=tgt['inputs']),
            data_samples=dict(
                source=src['data_samples'], target=tgt['data_samples']))
