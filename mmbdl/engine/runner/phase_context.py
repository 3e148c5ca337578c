"""What a phase runs with: the sub-model it trains (with the perceptual
copy of the segmentor and the online labelling it starts with), its
dataloader (its config with the phase artifacts it trains on: translated
source set, pseudo-labels; its iterator on resume) and its optimizer
wrappers and lr schedules (from the runner's ``optim_wrapper`` /
``param_scheduler`` configs keyed by phase kind)."""
import copy
import inspect
import itertools
import logging
import os.path as osp
from typing import Iterable, Iterator, Optional, Sequence, Union

import torch.nn as nn
from mmengine.dataset import InfiniteSampler
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper, build_optim_wrapper
from torch.utils.data import DataLoader

from mmbdl.engine.hooks.bdl_hook import PhaseArtifacts
from mmbdl.engine.optimizers.phase_relative_schedule import \
    resolve_phase_relative
from mmbdl.registry import DATASETS, PARAM_SCHEDULERS
from mmbdl.utils.errors import ConfigCheckError, ConfigTypeError, RunStateError
from mmbdl.utils.runner_internals import randomness_cfg
from .phase_kinds import PSEUDO_LABELS, TRANSLATED_SOURCE, phase_kind
from .phase_plan import Modes, Phase, lookup, mode_of


# ----------------------------------------------------------------------
# the sub-model a phase trains
def check_bdl_model(model, phases=None) -> None:
    """Refuse a model the loop cannot train (not a BDL; no translator for
    a plan with translator phases).

    Args:
        model (nn.Module): The unwrapped model of the runner.
        phases (Sequence[Phase], optional): The plan's phases; None checks
            for a translator regardless.
    """
    for attr in ('segmentor', 'phase'):
        if not hasattr(model, attr):
            raise ConfigTypeError(
                'BidirectionalTrainLoop needs a BDL model (with '
                f'`segmentor`, `translator`, `phase`), got '
                f'{type(model).__name__}; set model=dict(type=\'BDL\', '
                'segmentor=..., translator=...)')
    trains_f = phases is None or any(p.spec.trains == 'translator'
                                     for p in phases)
    if trains_f and getattr(model, 'translator', None) is None:
        raise ConfigCheckError(
            'BidirectionalTrainLoop has translation phases but the BDL '
            'model has no translator; set model.translator')


def phase_module(model, phase: Phase):
    """What the phase trains (its spec's ``trains``: the translator or the
    segmentor)."""
    return getattr(model, phase.spec.trains)


def transfer_perceptual_weights(model, phase: Phase, logger) -> None:
    """Give the translator's perceptual model the current segmentor.

    Args:
        model (BDL): The unwrapped model.
        phase (Phase): The translator's phase about to start.
        logger (MMLogger): The runner's logger.
    """
    if not model.translator.has_perceptual_model:  # the contract's
        return
    model.load_perceptual_weights()
    logger.info(f'{phase.name}: perceptual model <- current segmentor')


def set_online_labels(model, phase: Phase, mode: Modes) -> None:
    """Switch the segmentor's online labelling on for the phase (or off).

    Args:
        model (nn.Module): The unwrapped BDL model.
        phase (Phase): The phase about to train.
        mode (str | dict): ``train_cfg.self_training``.
    """
    segmentor = getattr(model, 'segmentor', None)
    if hasattr(segmentor, 'online_self_training'):
        segmentor.online_self_training = (
            mode_of(mode, phase.kind) == 'ema_teacher'
            and PSEUDO_LABELS in phase.spec.consumes)


# ----------------------------------------------------------------------
# the phase's data
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


def _names_type(cfg, name: str) -> bool:
    """Whether a config (nested dicts and lists) holds ``type=name``."""
    if isinstance(cfg, dict):
        kind = cfg.get('type')
        if isinstance(kind, str) and kind.split('.')[-1] == name:
            return True
        return any(_names_type(v, name) for v in cfg.values())
    if isinstance(cfg, (list, tuple)):
        return any(_names_type(v, name) for v in cfg)
    return False


def warn_unused_ignore_mask(model, dataloader_cfgs: Iterable) -> bool:
    """Warn when a pipeline writes the border ignore mask that the teacher
    does not apply (``ema_cfg.ignore_mask`` off): the mask would be loaded
    and packed every step and then silently left out of the pseudo-label
    weights.

    Args:
        model (nn.Module): The unwrapped BDL model.
        dataloader_cfgs (Iterable): The loop's dataloader configs (built
            dataloaders are skipped).

    Returns:
        bool: Whether the warning was given.
    """
    ema_cfg = getattr(getattr(model, 'segmentor', None), 'ema_cfg', None)
    if ema_cfg is None or ema_cfg.get('ignore_mask'):
        return False
    if not any(_names_type(cfg, 'BorderIgnoreMask')
               for cfg in dataloader_cfgs if isinstance(cfg, dict)):
        return False
    print_log(
        'warning: a train pipeline has BorderIgnoreMask but '
        'model.segmentor.ema_cfg.ignore_mask is False, so the mask is '
        'not applied to the teacher\'s pseudo-label weights; set '
        'ema_cfg.ignore_mask=True (VFM-UDA) or remove the transform',
        logger='current', level=logging.WARNING)
    return True


# ----------------------------------------------------------------------
# the phase's optimizers and lr schedules
class PhaseOptimizers:
    """Builds each phase's optimizers and schedules afresh.

    The built objects become ``runner.optim_wrapper`` /
    ``runner.param_schedulers``, so MMEngine's checkpoints hold the current
    phase's optimizer and scheduler states. Schedules count the phase's
    local iterations from 0; a scheduler config without ``end`` ends with
    the phase, and ``relative_<arg>`` values are fractions of the phase
    (``resolve_phase_relative``), so any ``phase_iters`` keeps the shape.

    Args:
        optim_cfgs (dict): The runner's ``optim_wrapper`` config, keyed by
            phase kind (a kind's fallback key, e.g. segmentation, serves
            the kinds that declare it).
        sched_cfgs (dict, optional): The runner's ``param_scheduler``
            config, keyed the same way.
        kinds (Sequence[str]): The phase kinds of the plan.
    """

    def __init__(self, optim_cfgs, sched_cfgs, kinds: Sequence[str]) -> None:
        self.optim_cfgs = copy.deepcopy(optim_cfgs)
        self.sched_cfgs = copy.deepcopy(sched_cfgs)
        if not isinstance(self.optim_cfgs, dict):
            raise ConfigTypeError(
                'with BidirectionalTrainLoop, optim_wrapper must be a config '
                'dict keyed by phase kind (translation, segmentation, ...), '
                f'got {type(self.optim_cfgs).__name__}')
        for kind in kinds:
            if lookup(self.optim_cfgs, kind) is None:
                keys = phase_kind(kind).keys
                raise ConfigCheckError(
                    f"optim_wrapper has no entry for the '{kind}' phases; "
                    "add optim_wrapper['" + keys[-1] + "'] = "
                    'dict(...) (keys: ' + ', '.join(keys) + ')')
        if self.sched_cfgs is not None and not isinstance(
                self.sched_cfgs, dict):
            raise ConfigTypeError(
                'with BidirectionalTrainLoop, param_scheduler must be a dict '
                'keyed by phase kind, e.g. dict(translation=[...], '
                'segmentation=[...])')

    def build(self, runner, module: nn.Module, phase: Phase,
              epoch_length: Optional[int], scale: bool = True) -> None:
        """Build the phase's optimizer wrappers and lr schedulers.

        They become ``runner.optim_wrapper`` / ``runner.param_schedulers``.

        Args:
            runner (Runner): The runner.
            module (nn.Module): What the phase trains (translator or
                segmentor).
            phase (Phase): The phase.
            epoch_length (int, optional): Length of the phase's dataloader
                (for ``convert_to_iter_based`` schedulers).
            scale (bool): Apply the runner's ``auto_scale_lr``. Defaults to
                True.
        """
        cfg = copy.deepcopy(lookup(self.optim_cfgs, phase.kind))
        optim_wrapper = build_optim_wrapper(module, cfg)
        if scale and runner.auto_scale_lr is not None:
            runner.scale_lr(optim_wrapper, runner.auto_scale_lr)
        optim_wrapper.initialize_count_status(module, 0, phase.iters)
        runner.optim_wrapper = optim_wrapper
        sched_cfg = lookup(self.sched_cfgs, phase.kind)
        runner.param_schedulers = self.build_schedulers(
            sched_cfg, optim_wrapper, phase, epoch_length)

    @staticmethod
    def build_schedulers(cfg, optim_wrapper: OptimWrapper, phase: Phase,
                         epoch_length: Optional[int]):
        """Schedulers counting the phase's local iterations from 0.

        Returns:
            list | dict: A list, or a dict of lists per optimizer name for
            an ``OptimWrapperDict``.
        """
        if cfg is None:
            return [] if not hasattr(optim_wrapper, 'optim_wrappers') \
                else {name: [] for name in optim_wrapper.keys()}

        def build(cfgs, wrapper):
            if isinstance(cfgs, dict):
                cfgs = [cfgs]
            out = []
            for one in cfgs:
                # relative_* values are fractions of the phase; end
                # defaults to the phase's end
                one = resolve_phase_relative(one, phase.iters)
                args = dict(optimizer=wrapper)
                if one.get('convert_to_iter_based', False):
                    args['epoch_length'] = epoch_length
                out.append(PARAM_SCHEDULERS.build(one, default_args=args))
            return out

        if hasattr(optim_wrapper, 'optim_wrappers'):
            result = {}
            per_name = isinstance(cfg, dict) and 'type' not in cfg
            for name, wrapper in optim_wrapper.items():
                if per_name:
                    if name not in cfg:
                        raise ConfigCheckError(
                            f"param_scheduler for '{phase.kind}' phases is "
                            f'keyed by optimizer but has no {name!r}; keys: '
                            f'{sorted(cfg)}')
                    result[name] = build(cfg[name], wrapper)
                else:
                    result[name] = build(cfg, wrapper)
            return result
        return build(cfg, optim_wrapper)
