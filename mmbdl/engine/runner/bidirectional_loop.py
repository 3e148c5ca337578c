"""Algorithm 1 of BDL as one MMEngine training loop."""
import copy
import itertools
import os
import os.path as osp
import random
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.dataset import InfiniteSampler
from mmengine.dist import barrier, is_main_process
from mmengine.hooks import Hook
from mmengine.optim import OptimWrapper, build_optim_wrapper
from mmengine.runner.base_loop import BaseLoop
from torch.utils.data import DataLoader

from mmbdl.registry import LOOPS, PARAM_SCHEDULERS
from mmbdl.utils.model_utils import unwrap_model
from .round_table import (find_per_class_iou, find_pixel_ratio,
                          write_round_files)

PHASE_KINDS = ('source_only', 'translation', 'adaptation', 'self_training')
SEGMENTATION_KINDS = ('source_only', 'adaptation', 'self_training')
INIT_POLICIES = ('continue', 'initial')
# where a kind's settings are looked up when the kind itself has no entry
_FALLBACK = {
    'source_only': ('source_only', 'segmentation'),
    'adaptation': ('adaptation', 'segmentation'),
    'self_training': ('self_training', 'segmentation'),
    'translation': ('translation', ),
}
INITIAL_WEIGHTS_FILE = 'bdl_initial_weights.pth'


@dataclass(frozen=True)
class Phase:
    """One phase of Algorithm 1.

    Attributes:
        index (int): Position in the plan.
        k (int): Outer (bidirectional) round, 0 for the source-only phase.
        i (int): Self-training round, 0 for M_0 / translation.
        kind (str): 'source_only', 'translation', 'adaptation' or
            'self_training'.
        name (str): e.g. 'k1_self_training_i1' (also the checkpoint name).
        begin (int): Global iteration at which the phase starts.
        iters (int): Iterations of the phase.
    """
    index: int
    k: int
    i: int
    kind: str
    name: str
    begin: int
    iters: int

    @property
    def end(self) -> int:
        """int: Global iteration after the phase's last iteration."""
        return self.begin + self.iters

    @property
    def is_segmentation(self) -> bool:
        """bool: Whether the phase trains the segmentor."""
        return self.kind in SEGMENTATION_KINDS

    @property
    def model_name(self) -> str:
        """str: The paper's name of the model the phase produces."""
        if self.kind == 'source_only':
            return 'M^(0)'
        if self.kind == 'translation':
            return f'F^({self.k})'
        return f'M_{self.i}^({self.k})(F^({self.k}))'


def plan_phases(num_rounds: int, num_ssl_rounds: int, source_only: bool,
                phase_iters: Dict[str, int]) -> List[Phase]:
    """The ordered phases of Algorithm 1.

    Args:
        num_rounds (int): K.
        num_ssl_rounds (int): N.
        source_only (bool): Whether M(0) is trained first.
        phase_iters (dict): Iterations per kind.

    Returns:
        list[Phase]: The plan.
    """
    specs: List[Tuple[int, int, str, str]] = []
    if source_only:
        specs.append((0, 0, 'source_only', 'k0_source_only'))
    for k in range(1, num_rounds + 1):
        specs.append((k, 0, 'translation', f'k{k}_translation'))
        specs.append((k, 0, 'adaptation', f'k{k}_adaptation'))
        for i in range(1, num_ssl_rounds + 1):
            specs.append((k, i, 'self_training', f'k{k}_self_training_i{i}'))
    phases, begin = [], 0
    for index, (k, i, kind, name) in enumerate(specs):
        iters = phase_iters[kind]
        phases.append(Phase(index, k, i, kind, name, begin, iters))
        begin += iters
    return phases


def _lookup(table: Optional[dict], kind: str):
    """Value of ``kind`` in a phase-kind keyed dict, with fallbacks."""
    if not table:
        return None
    for key in _FALLBACK[kind]:
        if key in table:
            return table[key]
    return None


class _NoDataLoader:
    """Stands in for the dataloader before a phase has built one."""

    def __init__(self, metainfo=None) -> None:

        class _Dataset:
            pass

        self.dataset = _Dataset()
        if metainfo is not None:
            self.dataset.metainfo = metainfo
        self.sampler = None

    def __len__(self) -> int:
        return 0


class _LoopStateHook(Hook):
    """Stores and restores the loop's resume state through checkpoints.

    Added by the loop itself; users never configure it.
    """

    priority = 'VERY_HIGH'

    def __init__(self, loop: 'BidirectionalTrainLoop') -> None:
        self.loop = loop

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        self.loop._save_state(checkpoint)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if runner._resume:
            self.loop._load_state(checkpoint)


@LOOPS.register_module()
class BidirectionalTrainLoop(BaseLoop):
    """Algorithm 1 of BDL: K rounds of translation, adaptation, self-training.

    The plan (``Phase`` objects, in order)::

        [M(0) source-only]                    kind 'source_only', k=0
        for k in 1..K:
            F(k)      translation             kind 'translation'
              -> after_phase: SourceTranslationHook writes S'(k)
            M_0(k)    Eq. 1 on S'(k), T       kind 'adaptation', i=0
            for i in 1..N:
              -> before_phase: PseudoLabelHook labels T with the latest M
            M_i(k)    Eq. 3                   kind 'self_training', i

    Every phase has its own iteration budget (``phase_iters``), dataloader
    (``phase_dataloaders``, default: the runner's ``train_dataloader``;
    rebuilt from config at the start of the phase, with the message-hub
    infos ``translated_source_dir`` / ``pseudo_label_dir`` injected into the
    ``UDADataset`` config), optimizer wrappers and lr schedule (the runner's
    ``optim_wrapper`` / ``param_scheduler`` configs, keyed by phase kind; a
    ``'segmentation'`` key serves the three segmentation kinds), and weight
    policy (``init``): ``'continue'`` from the current weights or
    ``'initial'`` (the weights the run started with; the release retrains M
    from the ImageNet initialisation for every segmentation run). Before each
    translation phase the translator's perceptual model receives the current
    segmentor (``BDL.load_perceptual_weights``).

    Hooks defining ``before_phase(runner, phase)`` / ``after_phase(runner,
    phase)`` get them around each phase; the standard iteration hooks run as
    in ``IterBasedTrainLoop`` with the global iteration. After each
    segmentation phase the val loop runs on the target val set and a row is
    added to ``work_dir/bdl_rounds.json`` / ``bdl_rounds.md``; a checkpoint
    ``<phase name>.pth`` is saved.

    Resume: the global iteration is the state; the phase and its local
    iteration follow from it and the plan. The runner's ``optim_wrapper`` and
    ``param_schedulers`` are always those of the current phase, so MMEngine
    checkpoints hold the current phase's optimizer and scheduler state.
    Checkpoints also hold the plan (a resume with another plan or model is
    refused), which phase outputs were finalised, the RNG states and the
    CycleGAN image pools.

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): The runner's ``train_dataloader``;
            used by phases without an entry in ``phase_dataloaders``.
        num_rounds (int): K, the bidirectional rounds. Defaults to 2.
        num_ssl_rounds (int): N, self-training rounds per K. Defaults to 2.
        source_only (bool): Train M(0) first. Defaults to True.
        phase_iters (dict): Iterations per phase kind (``'translation'``,
            ``'adaptation'``, ``'self_training'``, ``'source_only'``; a
            ``'segmentation'`` key serves as default for the segmentation
            kinds).
        phase_dataloaders (dict, optional): Dataloader configs per kind.
            Defaults to None.
        init (dict, optional): ``'continue'`` or ``'initial'`` per kind.
            Defaults to None: ``'initial'`` for self-training and
            ``'continue'`` otherwise.
        max_iters (int, optional): If given, must equal the sum of the
            phases' iterations. Defaults to None.
        val_after_phases (bool): Evaluate after each segmentation phase.
            Defaults to True.
        perceptual_from_segmentor (bool): Copy the segmentor into the
            translator's perceptual model before each translation phase.
            Defaults to True.
        resume_image_pool (bool): Save the CycleGAN image pools in
            checkpoints of translation phases. Defaults to True.
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, dict],
                 num_rounds: int = 2,
                 num_ssl_rounds: int = 2,
                 source_only: bool = True,
                 phase_iters: Optional[dict] = None,
                 phase_dataloaders: Optional[dict] = None,
                 init: Optional[dict] = None,
                 max_iters: Optional[int] = None,
                 val_after_phases: bool = True,
                 perceptual_from_segmentor: bool = True,
                 resume_image_pool: bool = True) -> None:
        self._runner = runner
        self._default_dataloader_cfg = dataloader
        self.phase_dataloaders = dict(phase_dataloaders or {})
        self.val_after_phases = val_after_phases
        self.perceptual_from_segmentor = perceptual_from_segmentor
        self.resume_image_pool = resume_image_pool
        self._check_args(num_rounds, num_ssl_rounds, source_only,
                         phase_iters, init)
        self.num_rounds = num_rounds
        self.num_ssl_rounds = num_ssl_rounds
        self.source_only = source_only
        kinds = self._used_kinds()
        self.phase_iters = {k: int(_lookup(phase_iters, k)) for k in kinds}
        self.init = {}
        for kind in kinds:
            default = 'initial' if kind == 'self_training' else 'continue'
            self.init[kind] = _lookup(init, kind) or default
        self.phases = plan_phases(num_rounds, num_ssl_rounds, source_only,
                                  self.phase_iters)
        self._max_iters = self.phases[-1].end
        if max_iters is not None and max_iters != self._max_iters:
            detail = ' + '.join(f'{p.name} {p.iters}' for p in self.phases)
            raise ValueError(
                f'train_cfg.max_iters={max_iters} but the phases add up to '
                f'{self._max_iters} ({detail}); remove max_iters from '
                'train_cfg or make phase_iters add up to it')
        self._iter = 0
        self._epoch = 0
        self._max_epochs = 1
        self.stop_training = False
        self._dataloader = None
        self._placeholder = _NoDataLoader()
        self._finalised = -1  # index of the last phase whose end ran
        self._rows: List[dict] = []
        self._state_phase: Optional[int] = None  # phase restored by resume
        self._pending_rng = None
        self._pending_pools = None
        self._initial_state: Optional[Dict[str, Dict]] = None

        model = unwrap_model(runner.model)
        for attr in ('segmentor', 'phase'):
            if not hasattr(model, attr):
                raise TypeError(
                    'BidirectionalTrainLoop needs a BDL model (with '
                    f'`segmentor`, `translator`, `phase`), got '
                    f'{type(model).__name__}; set model=dict(type=\'BDL\', '
                    'segmentor=..., translator=...)')
        if getattr(model, 'translator', None) is None:
            raise ValueError(
                'BidirectionalTrainLoop has translation phases but the BDL '
                'model has no translator; set model.translator')

        # the runner's optimizer / scheduler configs are keyed by phase kind
        self._optim_cfgs = copy.deepcopy(runner.optim_wrapper)
        self._sched_cfgs = copy.deepcopy(runner.param_schedulers)
        if not isinstance(self._optim_cfgs, dict):
            raise TypeError(
                'with BidirectionalTrainLoop, optim_wrapper must be a config '
                'dict keyed by phase kind (translation, segmentation, ...), '
                f'got {type(self._optim_cfgs).__name__}')
        for kind in kinds:
            if _lookup(self._optim_cfgs, kind) is None:
                raise ValueError(
                    f"optim_wrapper has no entry for the '{kind}' phases; "
                    "add optim_wrapper['" + _FALLBACK[kind][-1] + "'] = "
                    'dict(...) (keys: ' + ', '.join(_FALLBACK[kind]) + ')')
        if self._sched_cfgs is not None and not isinstance(
                self._sched_cfgs, dict):
            raise TypeError(
                'with BidirectionalTrainLoop, param_scheduler must be a dict '
                'keyed by phase kind, e.g. dict(translation=[...], '
                'segmentation=[...])')
        for kind in list(self.phase_dataloaders):
            if kind not in PHASE_KINDS + ('segmentation', ):
                raise ValueError(
                    f'train_cfg.phase_dataloaders has unknown key {kind!r}; '
                    f'use one of {PHASE_KINDS} or segmentation')
        # the runner builds and scales what it finds: give it phase 0's
        first = self.phases[0]
        self._build_phase_optim(first, scale=False)
        self._runner.register_hook(_LoopStateHook(self))

    # ------------------------------------------------------------------
    # validation of the config
    def _used_kinds(self) -> List[str]:
        kinds = ['translation', 'adaptation']
        if self.num_ssl_rounds > 0:
            kinds.append('self_training')
        if self.source_only:
            kinds.insert(0, 'source_only')
        return kinds

    def _check_args(self, num_rounds, num_ssl_rounds, source_only,
                    phase_iters, init) -> None:
        if not isinstance(num_rounds, int) or num_rounds < 1:
            raise ValueError(
                f'train_cfg.num_rounds (K) must be an int >= 1, got '
                f'{num_rounds!r}: the bidirectional loop needs at least one '
                'translation and adaptation round (for M(0) alone use '
                'IterBasedTrainLoop)')
        if not isinstance(num_ssl_rounds, int) or num_ssl_rounds < 0:
            raise ValueError(
                f'train_cfg.num_ssl_rounds (N) must be an int >= 0, got '
                f'{num_ssl_rounds!r}')
        hooks = [type(h).__name__ for h in self._runner.hooks]
        if num_ssl_rounds == 0 and 'PseudoLabelHook' in hooks:
            raise ValueError(
                'train_cfg.num_ssl_rounds (N) is 0 but a PseudoLabelHook is '
                'configured: the self-training phases it labels for would '
                'never run; set num_ssl_rounds >= 1 or remove the hook')
        if not isinstance(phase_iters, dict):
            raise ValueError(
                'train_cfg.phase_iters must be a dict of iterations per '
                'phase kind, e.g. dict(translation=100, adaptation=100, '
                f'self_training=100), got {phase_iters!r}')
        self.num_ssl_rounds = num_ssl_rounds
        self.source_only = source_only
        for key in phase_iters:
            if key not in PHASE_KINDS + ('segmentation', ):
                raise ValueError(
                    f'train_cfg.phase_iters has unknown key {key!r}; use '
                    f'one of {PHASE_KINDS} or segmentation')
        for kind in self._used_kinds():
            iters = _lookup(phase_iters, kind)
            if iters is None:
                raise ValueError(
                    f"train_cfg.phase_iters has no iterations for the '{kind}'"
                    f' phases (K={num_rounds}, N={num_ssl_rounds}, '
                    f'source_only={source_only}); add phase_iters[{kind!r}]')
            if not isinstance(iters, int) or iters < 1:
                raise ValueError(
                    f"train_cfg.phase_iters['{kind}'] must be an int >= 1, "
                    f'got {iters!r}')
        if num_ssl_rounds == 0 and 'self_training' in phase_iters:
            raise ValueError(
                "train_cfg.phase_iters['self_training'] is set but "
                'num_ssl_rounds (N) is 0, so no self-training phase runs; '
                'set N >= 1 or remove the entry')
        for kind, policy in (init or {}).items():
            if kind not in PHASE_KINDS + ('segmentation', ):
                raise ValueError(f'train_cfg.init has unknown key {kind!r}')
            if policy not in INIT_POLICIES:
                raise ValueError(
                    f'train_cfg.init[{kind!r}] must be one of '
                    f'{INIT_POLICIES}, got {policy!r}')

    # ------------------------------------------------------------------
    # properties the runner and hooks use
    @property
    def max_iters(self) -> int:
        """int: Total iterations of all phases."""
        return self._max_iters

    @property
    def max_epochs(self) -> int:
        """int: Always 1 (the run is one big epoch)."""
        return self._max_epochs

    @property
    def iter(self) -> int:
        """int: Global iteration."""
        return self._iter

    @property
    def epoch(self) -> int:
        """int: Always 0."""
        return self._epoch

    @property
    def dataloader(self):
        """DataLoader: The current phase's dataloader."""
        return self._dataloader if self._dataloader is not None \
            else self._placeholder

    @dataloader.setter
    def dataloader(self, value) -> None:
        self._dataloader = value

    @property
    def rows(self) -> List[dict]:
        """list[dict]: Rows of the round table so far."""
        return list(self._rows)

    def locate(self, global_iter: int) -> Tuple[int, int]:
        """Phase index and local iteration of a global iteration.

        Args:
            global_iter (int): Iterations completed.

        Returns:
            tuple[int, int]: ``(phase index, local iteration)``;
            ``(len(phases), 0)`` when everything is trained.
        """
        for phase in self.phases:
            if global_iter < phase.end:
                return phase.index, global_iter - phase.begin
        return len(self.phases), 0

    @property
    def current_phase(self) -> Optional[Phase]:
        """Phase | None: The phase of the current iteration."""
        index, _ = self.locate(self._iter)
        return self.phases[index] if index < len(self.phases) else None

    # ------------------------------------------------------------------
    # per-phase building
    def _model(self):
        return unwrap_model(self.runner.model)

    def _phase_module(self, phase: Phase):
        model = self._model()
        return model.translator if phase.kind == 'translation' \
            else model.segmentor

    def _build_phase_optim(self, phase: Phase, scale: bool = True) -> None:
        """Build the phase's optimizer wrappers and lr schedulers.

        They become ``runner.optim_wrapper`` / ``runner.param_schedulers``.
        """
        runner = self.runner
        cfg = copy.deepcopy(_lookup(self._optim_cfgs, phase.kind))
        optim_wrapper = build_optim_wrapper(self._phase_module(phase), cfg)
        if scale and runner.auto_scale_lr is not None:
            runner.scale_lr(optim_wrapper, runner.auto_scale_lr)
        optim_wrapper.initialize_count_status(self._phase_module(phase), 0,
                                              phase.iters)
        runner.optim_wrapper = optim_wrapper
        sched_cfg = _lookup(self._sched_cfgs, phase.kind)
        runner.param_schedulers = self._build_schedulers(
            sched_cfg, optim_wrapper, phase)

    def _build_schedulers(self, cfg, optim_wrapper: OptimWrapper,
                          phase: Phase):
        """Schedulers counting the phase's local iterations from 0."""
        if cfg is None:
            return [] if not hasattr(optim_wrapper, 'optim_wrappers') \
                else {name: [] for name in optim_wrapper.keys()}

        def build(cfgs, wrapper):
            if isinstance(cfgs, dict):
                cfgs = [cfgs]
            out = []
            for one in cfgs:
                one = copy.deepcopy(one)
                one.setdefault('end', phase.iters)
                epoch_length = (len(self._dataloader)
                                if self._dataloader is not None else None)
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
                        raise KeyError(
                            f"param_scheduler for '{phase.kind}' phases is "
                            f'keyed by optimizer but has no {name!r}; keys: '
                            f'{sorted(cfg)}')
                    result[name] = build(cfg[name], wrapper)
                else:
                    result[name] = build(cfg, wrapper)
            return result
        return build(cfg, optim_wrapper)

    def _dataloader_cfg(self, phase: Phase) -> dict:
        cfg = _lookup(self.phase_dataloaders, phase.kind)
        if cfg is None:
            cfg = self._default_dataloader_cfg
        if isinstance(cfg, DataLoader):
            return cfg
        cfg = copy.deepcopy(cfg)
        hub = self.runner.message_hub
        inject = {}
        if phase.kind in ('adaptation', 'self_training'):
            path = hub.get_info('translated_source_dir')
            if path is not None:
                self._check_complete(path, 'translated source set', phase)
                inject['translated_source_dir'] = path
            else:
                self.runner.logger.warning(
                    f'{phase.name}: no translated source set was published '
                    '(no SourceTranslationHook?); training on the original '
                    'source images')
        if phase.kind == 'self_training':
            path = hub.get_info('pseudo_label_dir')
            if path is None:
                raise RuntimeError(
                    f'{phase.name} needs pseudo-labels but none were '
                    'published; add dict(type=\'PseudoLabelHook\', ...) to '
                    'custom_hooks')
            self._check_complete(path, 'pseudo-label directory', phase)
            inject['pseudo_label_dir'] = path
        elif phase.is_segmentation:
            inject['pseudo_label_dir'] = None
        if inject and not _inject_uda(cfg['dataset'], inject):
            if any(v is not None for v in inject.values()):
                raise ValueError(
                    f'{phase.name}: the dataloader of this phase has no '
                    'UDADataset to receive ' + ', '.join(
                        k for k, v in inject.items() if v is not None)
                    + '; use dataset=dict(type=\'UDADataset\', ...)')
        return cfg

    def _check_complete(self, path: str, what: str, phase: Phase) -> None:
        if not osp.isfile(osp.join(path, '.complete.json')):
            raise RuntimeError(
                f'{phase.name}: the {what} {path} has no .complete.json, so '
                'it may be partial; it is produced at the phase boundary, '
                'so resume from the checkpoint written at the end of the '
                f'previous phase ({self.phases[phase.index - 1].name}.pth) '
                'to redo it')

    def _build_dataloader(self, phase: Phase) -> None:
        cfg = self._dataloader_cfg(phase)
        if isinstance(cfg, DataLoader):
            self._dataloader = cfg
            return
        diff_rank_seed = self.runner._randomness_cfg.get(
            'diff_rank_seed', False)
        self._dataloader = self.runner.build_dataloader(
            cfg, seed=self.runner.seed, diff_rank_seed=diff_rank_seed)

    # ------------------------------------------------------------------
    # weights
    def _snapshot_initial(self) -> None:
        """Keep the weights the run starts with (for ``init='initial'``)."""
        if 'initial' not in self.init.values():
            return
        model = self._model()
        path = osp.join(self.runner.work_dir, INITIAL_WEIGHTS_FILE)
        if self._iter > 0:
            if not osp.isfile(path):
                raise FileNotFoundError(
                    f'{path} is missing: it holds the initial weights that '
                    "phases with init='initial' restart from; a resumed run "
                    'needs the file of its first start (or start afresh)')
            self._initial_state = torch.load(path, map_location='cpu')
            return
        self._initial_state = dict(
            segmentor=model.state_dict_of('segmentor'),
            translator={
                k: v
                for k, v in model.state_dict_of('translator').items()
                if not k.startswith('perceptual')
            })
        if is_main_process():
            tmp = f'{path}.tmp'
            torch.save(self._initial_state, tmp)
            os.replace(tmp, path)

    def _apply_init(self, phase: Phase) -> None:
        if self.init[phase.kind] != 'initial' or self._initial_state is None:
            return
        model = self._model()
        if phase.kind == 'translation':
            missing = model.translator.load_state_dict(
                self._initial_state['translator'], strict=False)
            bad = [k for k in missing.missing_keys
                   if not k.startswith('perceptual')]
            if bad or missing.unexpected_keys:
                raise RuntimeError(
                    f'initial translator weights do not fit: missing {bad}, '
                    f'unexpected {missing.unexpected_keys}')
            _reset_image_pools(model.translator)
        else:
            model.segmentor.load_state_dict(
                self._initial_state['segmentor'], strict=True)
        self.runner.logger.info(
            f'{phase.name}: weights re-initialised to the initial ones')

    # ------------------------------------------------------------------
    # hook events
    def _call_phase_hook(self, event: str, phase: Phase) -> None:
        for hook in self.runner.hooks:
            fn = getattr(hook, event, None)
            if fn is not None:
                fn(self.runner, phase)
        barrier()

    def _start_phase(self, phase: Phase) -> None:
        """Everything before a phase's first iteration (not on resume)."""
        model = self._model()
        model.phase = phase.kind
        self.runner.logger.info(
            f'==== phase {phase.index + 1}/{len(self.phases)}: {phase.name} '
            f'({phase.model_name}), iterations {phase.begin}..'
            f'{phase.end - 1}, init={self.init[phase.kind]} ====')
        if phase.kind == 'translation':
            self._apply_init(phase)
            if self.perceptual_from_segmentor and getattr(
                    model.translator, 'perceptual_model', None) is not None:
                model.load_perceptual_weights()
                self.runner.logger.info(
                    f'{phase.name}: perceptual model <- current segmentor')
        self._call_phase_hook('before_phase', phase)
        if phase.is_segmentation:
            self._apply_init(phase)

    def _enter_phase(self, phase: Phase, local_iter: int,
                     resumed: bool) -> None:
        """Build the phase's dataloader (and optimizers unless resumed)."""
        self._model().phase = phase.kind
        _forget_train_scalars(self.runner.message_hub)
        self._build_dataloader(phase)
        if not (resumed and self._state_phase == phase.index):
            self._build_phase_optim(phase)
        else:
            self.runner.optim_wrapper.initialize_count_status(
                self._phase_module(phase), local_iter, phase.iters)
        if local_iter > 0:
            self.runner.logger.info(
                f'{phase.name}: resuming at local iteration {local_iter}; '
                'skipping the batches already trained on')
        _advance(self, local_iter)
        if resumed:
            self._restore_rng()
        self.runner.call_hook('before_train_epoch')

    def _restore_rng(self) -> None:
        if self._pending_rng is not None:
            _set_rng(self._pending_rng)
            self._pending_rng = None

    def _finish_phase(self, phase: Phase) -> None:
        """Val, row, ``after_phase`` hooks and the phase checkpoint."""
        runner = self.runner
        if phase.is_segmentation:
            self._add_row(phase)
        self._call_phase_hook('after_phase', phase)
        self._finalised = phase.index
        runner.message_hub.update_info('bdl_rounds', copy.deepcopy(self._rows))
        filename = f'{phase.name}.pth'
        runner.save_checkpoint(
            runner.work_dir, filename, meta=dict(iter=phase.end, epoch=0))
        if is_main_process():
            path = osp.join(runner.work_dir, filename)
            tmp = osp.join(runner.work_dir, 'last_checkpoint.tmp')
            with open(tmp, 'w') as f:
                f.write(path)
            os.replace(tmp, osp.join(runner.work_dir, 'last_checkpoint'))
        barrier()

    def _add_row(self, phase: Phase) -> None:
        runner = self.runner
        row = dict(phase=phase.name, model=phase.model_name, k=phase.k,
                   i=phase.i, kind=phase.kind, iter=phase.end)
        metrics = {}
        if self.val_after_phases and runner.val_loop is not None:
            metrics = runner.val_loop.run() or {}
            self._model().train()
        # drop metric prefixes ('prefix/mIoU' -> 'mIoU')
        metrics = {k.split('/')[-1]: v for k, v in metrics.items()}
        names = self._class_names()
        row['metrics'] = {}
        for key, value in metrics.items():
            value = _to_float(value)
            if value is not None:
                row['metrics'][key] = value
        row['per_class'] = find_per_class_iou(metrics, names)
        miou = row['metrics'].get('mIoU')
        row['mIoU'] = miou
        ratio = None
        if phase.kind == 'self_training':
            ratio = find_pixel_ratio(
                runner.message_hub.get_info('pseudo_label_stats'))
        row['ssl_pixel_ratio'] = ratio
        self._rows = [r for r in self._rows if r['phase'] != phase.name]
        self._rows.append(row)
        if is_main_process():
            table = write_round_files(runner.work_dir, self._rows, names)
            runner.logger.info(f'BDL rounds so far:\n{table}')

    def _class_names(self) -> Sequence[str]:
        runner = self.runner
        try:
            loader = runner.val_dataloader if runner.val_loop is not None \
                else None
        except Exception:  # noqa: BLE001  (no val set configured)
            loader = None
        meta = getattr(getattr(loader, 'dataset', None), 'metainfo', None)
        if meta and meta.get('classes'):
            return list(meta['classes'])
        meta = getattr(self._dataloader, 'dataset', None)
        meta = getattr(meta, 'metainfo', None)
        if meta and meta.get('classes'):
            return list(meta['classes'])
        return []

    # ------------------------------------------------------------------
    # checkpoint state
    def _plan_signature(self) -> List[list]:
        return [[p.name, p.iters] for p in self.phases]

    def _save_state(self, checkpoint: dict) -> None:
        state = dict(
            plan=self._plan_signature(),
            init=dict(self.init),
            finalised=self._finalised,
            rng=_get_rng())
        model = self._model()
        index, _ = self.locate(max(checkpoint['meta'].get('iter', 0) - 1, 0))
        in_translation = (index < len(self.phases)
                          and self.phases[index].kind == 'translation')
        if self.resume_image_pool and (
                in_translation or self.init['translation'] == 'continue'):
            checkpoint['bdl_image_pools'] = _get_image_pools(model.translator)
        checkpoint['meta']['bdl'] = state

    def _load_state(self, checkpoint: dict) -> None:
        """Check the checkpoint's plan and prepare its phase's optimizers.

        Called by ``after_load_checkpoint`` before MMEngine loads the
        optimizer and scheduler states, so the runner's wrappers are the
        checkpoint phase's when they are loaded.
        """
        meta = checkpoint.get('meta', {})
        state = meta.get('bdl')
        if state is None:
            raise ValueError(
                'the checkpoint to resume from was not written by '
                'BidirectionalTrainLoop (no meta["bdl"]); resume only from '
                'checkpoints of a BDL run, or use load_from to start a new '
                'run from its weights')
        plan = [list(p) for p in state['plan']]
        if plan != self._plan_signature():
            raise ValueError(
                'the checkpoint to resume from belongs to another BDL config: '
                f'its phases are {plan}, this config plans '
                f'{self._plan_signature()}. Resume with the original config, '
                'or start a fresh run in another --work-dir')
        self._check_weights(checkpoint.get('state_dict', {}))
        global_iter = int(meta['iter'])
        self._iter = global_iter
        self._finalised = int(state.get('finalised', -1))
        # the phase that was running when the checkpoint was written
        index, _ = self.locate(max(global_iter - 1, 0))
        index = min(index, len(self.phases) - 1)
        self._state_phase = index
        phase = self.phases[index]
        self._model().phase = phase.kind
        self._build_phase_optim(phase)
        self._placeholder = _NoDataLoader(meta.get('dataset_meta'))
        self._pending_rng = state.get('rng')
        self._pending_pools = checkpoint.get('bdl_image_pools')

    def _check_weights(self, state_dict: dict) -> None:
        own = self._model().state_dict()
        theirs = {k[len('module.'):] if k.startswith('module.') else k: v
                  for k, v in state_dict.items()}
        missing = sorted(set(own) - set(theirs))
        unexpected = sorted(set(theirs) - set(own))
        shapes = [k for k in set(own) & set(theirs)
                  if tuple(own[k].shape) != tuple(theirs[k].shape)]
        if missing or unexpected or shapes:
            raise ValueError(
                'the checkpoint to resume from holds another model: '
                f'{len(missing)} keys missing (e.g. {missing[:3]}), '
                f'{len(unexpected)} unexpected (e.g. {unexpected[:3]}), '
                f'{len(shapes)} with other shapes (e.g. {shapes[:3]}). '
                'Resume with the config that wrote it, or start a fresh run')

    # ------------------------------------------------------------------
    def run(self):
        """Run every remaining phase of the plan.

        Returns:
            nn.Module: The trained model.
        """
        runner = self.runner
        model = runner.model
        if hasattr(model, 'broadcast_parameters') and self._iter == 0:
            model.broadcast_parameters()
        stored = runner.message_hub.get_info('bdl_rounds')
        if self._iter > 0 and stored:
            self._rows = [dict(r) for r in stored]
        self._snapshot_initial()
        if self._pending_pools is not None:
            _load_image_pools(self._model().translator, self._pending_pools)
            self._pending_pools = None
        runner.call_hook('before_train')
        start, local = self.locate(self._iter)
        if self._iter > 0 and local == 0:
            # a resume at a phase boundary: the RNG state of the checkpoint
            # is the one the uninterrupted run had at this point
            self._restore_rng()
            if self._finalised < start - 1:
                previous = self.phases[start - 1]
                runner.logger.info(
                    f'resume: redoing the end of {previous.name} '
                    '(evaluation, after_phase hooks), which did not finish '
                    'before the stop')
                self._model().phase = previous.kind
                self._finish_phase(previous)
        for phase in self.phases[start:]:
            resumed = phase.index == start and local > 0
            if not resumed:
                self._start_phase(phase)
            self._enter_phase(phase, local if resumed else 0, resumed)
            while self._iter < phase.end and not self.stop_training:
                runner.model.train()
                data_batch = next(self._iterator)
                self.run_iter(data_batch)
            runner.call_hook('after_train_epoch')
            if self.stop_training:
                break
            self._finish_phase(phase)
            local = 0
        if self._rows and is_main_process():
            table = write_round_files(runner.work_dir, self._rows,
                                      self._class_names())
            runner.logger.info(
                'BDL rounds (work_dir/bdl_rounds.md):\n' + table)
        runner.call_hook('after_train')
        return runner.model

    def run_iter(self, data_batch) -> None:
        """One iteration with the standard iteration hooks.

        Args:
            data_batch: A batch of the current phase's dataloader.
        """
        runner = self.runner
        runner.call_hook(
            'before_train_iter', batch_idx=self._iter, data_batch=data_batch)
        outputs = runner.model.train_step(
            data_batch, optim_wrapper=runner.optim_wrapper)
        runner.call_hook(
            'after_train_iter',
            batch_idx=self._iter,
            data_batch=data_batch,
            outputs=outputs)
        self._iter += 1


# ----------------------------------------------------------------------
# helpers
def _inject_uda(dataset_cfg: dict, values: dict) -> bool:
    """Set ``values`` on the first ``UDADataset`` config in ``dataset_cfg``.

    Returns:
        bool: Whether a UDADataset config was found.
    """
    if not isinstance(dataset_cfg, dict):
        return False
    if str(dataset_cfg.get('type', '')).endswith('UDADataset'):
        dataset_cfg.update(values)
        return True
    for key in ('dataset', 'datasets'):
        inner = dataset_cfg.get(key)
        if isinstance(inner, dict) and _inject_uda(inner, values):
            return True
        if isinstance(inner, (list, tuple)):
            if any(_inject_uda(d, values) for d in inner):
                return True
    return False


def _advance(loop: BidirectionalTrainLoop, count: int) -> None:
    """Create the phase's iterator, ``count`` batches further on.

    With worker processes and an ``InfiniteSampler`` only the sampler's
    indices are consumed (before any worker starts; no data is loaded): the
    batches are the same, though random choices made inside workers are not
    reproducible across a restart anyway. Without workers the batches are
    drawn and dropped, as ``IterBasedTrainLoop`` does, so that random state
    kept inside data sets advances exactly as in an uninterrupted run.
    """
    dataloader = loop._dataloader
    sampler = getattr(dataloader, 'sampler', None)
    batch_size = getattr(dataloader, 'batch_size', None)
    fast = (isinstance(sampler, InfiniteSampler) and bool(batch_size)
            and getattr(dataloader, 'num_workers', 0) > 0)
    if fast and count:
        for _ in itertools.islice(sampler.indices, count * batch_size):
            pass
    loop._iterator = iter(dataloader)
    if not fast:
        for _ in range(count):
            next(loop._iterator)


def _forget_train_scalars(message_hub) -> None:
    """Drop the previous phase's loss / lr scalars from the log."""
    scalars = getattr(message_hub, '_log_scalars', None)
    resumed = getattr(message_hub, '_resumed_keys', None)
    if not isinstance(scalars, dict):
        return
    for key in list(scalars):
        if key.startswith('train/') and key not in ('train/time',
                                                    'train/data_time'):
            scalars.pop(key)
            if isinstance(resumed, dict):
                resumed.pop(key, None)


def _to_float(value) -> Optional[float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hasattr(value, 'item'):
        try:
            return float(value.item())
        except (ValueError, RuntimeError, TypeError):
            return None
    return None


def _get_rng() -> dict:
    np_state = np.random.get_state()
    state = dict(
        torch=torch.get_rng_state(),
        numpy=[np_state[0], torch.from_numpy(np_state[1].astype(np.int64)),
               int(np_state[2]), int(np_state[3]), float(np_state[4])],
        python=list(random.getstate()[1]),
        python_version=random.getstate()[0],
        python_gauss=random.getstate()[2])
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state()
    return state


def _set_rng(state: dict) -> None:
    torch.set_rng_state(state['torch'])
    name, keys, pos, has_gauss, cached = state['numpy']
    np.random.set_state(
        (name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    random.setstate((state['python_version'], tuple(state['python']),
                     state['python_gauss']))
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state['cuda'])


def _get_image_pools(translator) -> Optional[dict]:
    pools = getattr(translator, 'image_buffers', None)
    if not isinstance(pools, dict):
        return None
    out = {}
    for domain, pool in pools.items():
        if getattr(pool, 'buffer_size', 0) > 0:
            out[domain] = dict(
                img_num=int(pool.img_num),
                images=[t.detach().cpu() for t in pool.image_buffer])
    return out


def _load_image_pools(translator, state: Optional[dict]) -> None:
    pools = getattr(translator, 'image_buffers', None)
    if not state or not isinstance(pools, dict):
        return
    device = next(translator.parameters()).device
    for domain, saved in state.items():
        if domain in pools:
            pools[domain].img_num = saved['img_num']
            pools[domain].image_buffer = [t.to(device)
                                          for t in saved['images']]


def _reset_image_pools(translator) -> None:
    pools = getattr(translator, 'image_buffers', None)
    if not isinstance(pools, dict):
        return
    for pool in pools.values():
        if getattr(pool, 'buffer_size', 0) > 0:
            pool.img_num = 0
            pool.image_buffer = []
