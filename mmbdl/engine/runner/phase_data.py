"""A phase's dataloader: its config with the phase artifacts it trains on
(translated source set, pseudo-labels), and its iterator on resume."""
import copy
import inspect
import itertools
import os.path as osp
from typing import Iterator, Optional, Union

from mmengine.dataset import InfiniteSampler
from torch.utils.data import DataLoader

from mmbdl.engine.hooks.bdl_hook import PhaseArtifacts
from mmbdl.registry import DATASETS
from mmbdl.utils.errors import ConfigCheckError, RunStateError
from mmbdl.utils.runner_internals import randomness_cfg
from .phase_kinds import PSEUDO_LABELS, TRANSLATED_SOURCE
from .phase_plan import Phase, lookup


class NoDataLoader:
    """Stands in for the dataloader before a phase has built one.

    Args:
        metainfo (dict, optional): Dataset meta of a resumed checkpoint.
    """

    def __init__(self, metainfo=None) -> None:

        class _Dataset:
            pass

        self.dataset = _Dataset()
        if metainfo is not None:
            self.dataset.metainfo = metainfo
        self.sampler = None

    def __len__(self) -> int:
        return 0


ARTIFACT_ARGS = ('translated_source_dir', 'pseudo_label_dir')


def receives_artifacts(dataset_cfg) -> bool:
    """Whether a dataset config's type takes the phase-artifact arguments.

    The loop hands the phase artifacts to the phase's dataset (the
    ``dataset`` of its dataloader config) as UDADataset's documented
    arguments ``translated_source_dir`` and ``pseudo_label_dir``; any dataset
    type whose constructor takes both receives them.

    Args:
        dataset_cfg (dict): The dataloader's ``dataset`` config.

    Returns:
        bool: Whether the type's ``__init__`` takes both arguments.
    """
    if not isinstance(dataset_cfg, dict):
        return False
    cls = dataset_cfg.get('type')
    if isinstance(cls, str):
        cls = DATASETS.get(cls)
    if not inspect.isclass(cls):
        return False
    params = inspect.signature(cls.__init__).parameters
    return all(name in params for name in ARTIFACT_ARGS)


def check_complete(path: str, what: str, phase: Phase,
                   previous: Phase) -> None:
    """Refuse a phase output folder that was not finished.

    Args:
        path (str): The folder.
        what (str): What it holds, for the message.
        phase (Phase): The phase that would train on it.
        previous (Phase): The phase before it (whose end writes it).
    """
    if not osp.isfile(osp.join(path, '.complete.json')):
        raise RunStateError(
            f'{phase.name}: the {what} {path} has no .complete.json, so '
            'it may be partial; it is produced at the phase boundary, '
            'so resume from the checkpoint written at the end of the '
            f'previous phase ({previous.name}.pth) to redo it')


def check_source_translation(translate_source: bool, hooks,
                             phases=None) -> None:
    """Refuse a run that would skip S' = F(S) without saying so.

    Without a ``SourceTranslationHook`` the adaptation and self-training
    phases would train on the original source images, i.e. without the
    translation half of BDL; that needs an explicit
    ``train_cfg.translate_source=False``.

    Args:
        translate_source (bool): ``train_cfg.translate_source``.
        hooks (Sequence[Hook]): The runner's hooks.
        phases (Sequence[Phase], optional): The plan's phases; a plan
            without a phase consuming S' needs no hook. None: checked
            regardless.
    """
    if not isinstance(translate_source, bool):
        raise ConfigCheckError(
            'train_cfg.translate_source must be True or False, got '
            f'{translate_source!r}')
    translating = [
        type(h).__name__ for h in hooks
        if any(c.__name__ == 'SourceTranslationHook'
               for c in type(h).__mro__)
    ]
    consumed = phases is None or any(
        TRANSLATED_SOURCE in p.spec.consumes for p in phases)
    if translate_source and consumed and not translating:
        raise ConfigCheckError(
            'no SourceTranslationHook is configured, so the adaptation and '
            'self-training phases would train on the original source '
            'images instead of the translated set S\' = F(S) (half of '
            "BDL); add dict(type='SourceTranslationHook', img_dir=...) to "
            'custom_hooks, or set train_cfg.translate_source=False to train '
            'on the original source images on purpose')
    if not translate_source and translating:
        raise ConfigCheckError(
            'train_cfg.translate_source=False but custom_hooks has '
            f'{translating[0]}, whose translated images would never be '
            'trained on; remove the hook or set translate_source=True')


def phase_dataloader_cfg(phase: Phase, previous: Optional[Phase],
                         artifacts: PhaseArtifacts, phase_dataloaders: dict,
                         default_cfg: Union[DataLoader, dict],
                         online_labels: bool = False,
                         translate_source: bool = True
                         ) -> Union[DataLoader, dict]:
    """The phase's dataloader config, with the artifacts it consumes.

    A phase whose kind consumes the translated source set gets the loop's
    ``translated_source_dir``; one that consumes pseudo-labels its
    ``pseudo_label_dir``; other segmentation phases get
    ``pseudo_label_dir=None``. They are set as the ``translated_source_dir``
    / ``pseudo_label_dir`` arguments of the config's ``dataset`` (a
    ``UDADataset``, see :func:`receives_artifacts`).

    Args:
        phase (Phase): The phase.
        previous (Phase, optional): The phase before it.
        artifacts (PhaseArtifacts): The loop's record.
        phase_dataloaders (dict): ``train_cfg.phase_dataloaders``.
        default_cfg (DataLoader | dict): The runner's ``train_dataloader``.
        online_labels (bool): Pseudo-labels are made online
            (``train_cfg.self_training='ema_teacher'``): no
            ``pseudo_label_dir`` is needed or set. Defaults to False.
        translate_source (bool): Phases consuming the translated source set
            train on it (``train_cfg.translate_source``); False trains them
            on the original source images. Defaults to True.

    Returns:
        DataLoader | dict: A built dataloader is returned as it is.
    """
    cfg = lookup(phase_dataloaders, phase.kind)
    if cfg is None:
        cfg = default_cfg
    if isinstance(cfg, DataLoader):
        return cfg
    cfg = copy.deepcopy(cfg)
    spec = phase.spec
    inject = {}
    if TRANSLATED_SOURCE in spec.consumes and translate_source:
        path = artifacts.translated_source_dir
        if path is None:
            raise RunStateError(
                f'{phase.name}: no translated source set was produced '
                'although train_cfg.translate_source is True; the '
                'SourceTranslationHook writes it after each translation '
                f'phase: resume from k{phase.k}_translation.pth to redo it')
        check_complete(path, 'translated source set', phase, previous)
        inject['translated_source_dir'] = path
    if PSEUDO_LABELS in spec.consumes and not online_labels:
        path = artifacts.pseudo_label_dir
        if path is None:
            raise RunStateError(
                f'{phase.name} needs pseudo-labels but none were '
                'produced; add dict(type=\'PseudoLabelHook\', ...) to '
                'custom_hooks')
        check_complete(path, 'pseudo-label directory', phase, previous)
        inject['pseudo_label_dir'] = path
    elif phase.is_segmentation:
        inject['pseudo_label_dir'] = None
    if not inject:
        return cfg
    if receives_artifacts(cfg['dataset']):
        cfg['dataset'].update(inject)
    elif any(v is not None for v in inject.values()):
        raise ConfigCheckError(
            f'{phase.name}: the dataset of this phase\'s dataloader '
            f"({cfg['dataset'].get('type')!r}) does not take "
            + ', '.join(k for k, v in inject.items() if v is not None)
            + "; use dataset=dict(type='UDADataset', ...)")
    return cfg


def build_phase_dataloader(runner, cfg: Union[DataLoader, dict]):
    """Build a dataloader config with the runner's seed settings."""
    if isinstance(cfg, DataLoader):
        return cfg
    diff_rank_seed = randomness_cfg(runner).get('diff_rank_seed', False)
    return runner.build_dataloader(
        cfg, seed=runner.seed, diff_rank_seed=diff_rank_seed)


def advanced_iterator(dataloader, count: int) -> Iterator:
    """The dataloader's iterator, ``count`` batches further on.

    With worker processes and an ``InfiniteSampler`` only the sampler's
    indices are consumed (before any worker starts; no data is loaded): the
    batches are the same, though random choices made inside workers are not
    reproducible across a restart anyway. Without workers the batches are
    drawn and dropped, as ``IterBasedTrainLoop`` does, so that random state
    kept inside data sets advances exactly as in an uninterrupted run.

    Args:
        dataloader (DataLoader): The phase's dataloader.
        count (int): Batches already trained on.

    Returns:
        Iterator: Yields the next batch to train on.
    """
    sampler = getattr(dataloader, 'sampler', None)
    batch_size = getattr(dataloader, 'batch_size', None)
    fast = (isinstance(sampler, InfiniteSampler) and bool(batch_size)
            and getattr(dataloader, 'num_workers', 0) > 0)
    if fast and count:
        for _ in itertools.islice(sampler.indices, count * batch_size):
            pass
    iterator = iter(dataloader)
    if not fast:
        for _ in range(count):
            next(iterator)
    return iterator
