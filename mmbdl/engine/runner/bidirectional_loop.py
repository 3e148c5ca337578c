"""Algorithm 1 of BDL as one MMEngine training loop: the schedule.

The loop runs the plan's phases in order (:mod:`.phase_plan`), calls the
hooks' phase events around each phase and runs its iterations. What a phase
runs with is built by :mod:`.phase_context`; its resume and restart state
is :mod:`.loop_state`'s; the side effects are the hooks' (the translated
source set, the pseudo-labels, the evaluation and the round table).
"""
import ctypes
import gc
from typing import List, Optional, Tuple, Union

import torch
from mmengine.dist import barrier
from mmengine.runner.base_loop import BaseLoop
from torch.utils.data import DataLoader

from mmbdl.engine.hooks.bdl_hook import (BDLHook, PhaseArtifacts,
                                         check_phase_hooks)
from mmbdl.engine.hooks.round_table_hook import RoundTableHook
from mmbdl.registry import LOOPS
from mmbdl.utils.model_utils import unwrap_model
from mmbdl.utils.runner_internals import forget_scalars, shutdown_workers
from .loop_state import (InitialWeights, InitialWeightsSource,
                         LoopCheckpointState, LoopStateHook)
from .phase_context import (NoDataLoader, PhaseOptimizers, advanced_iterator,
                            build_phase_dataloader, check_bdl_model,
                            check_source_translation, phase_dataloader_cfg,
                            phase_module, set_online_labels,
                            transfer_perceptual_weights,
                            warn_unused_ignore_mask)
from .phase_plan import (Phase, check_kind_keys, check_self_training, locate,
                         mode_of, plan_phases, resolve_plan)

__all__ = ['BidirectionalTrainLoop', 'Phase', 'plan_phases']


@LOOPS.register_module()
class BidirectionalTrainLoop(LoopCheckpointState, BaseLoop):
    """Algorithm 1 of BDL: K rounds of translation, adaptation, self-training.

    The paper's plan (``Phase`` objects, in order; :mod:`.phase_plan`)::

        [M(0) source-only]                    kind source_only, k=0
        for k in 1..K:
            F(k)      translation             kind translation
              -> after_phase: SourceTranslationHook writes S'(k)
            M_0(k)    Eq. 1 on S'(k), T       kind adaptation, i=0
            for i in 1..N:
              -> before_phase: PseudoLabelHook labels T with the latest M
            M_i(k)    Eq. 3                   kind self_training, i

    ``plan`` gives another order or other kinds; what a kind trains and
    needs is its spec's (:mod:`.phase_kinds`, registry ``PHASE_KINDS``).

    Every phase has its own iteration budget (``phase_iters``), dataloader
    (``phase_dataloaders``, default: the runner's ``train_dataloader``;
    rebuilt from config at the start of the phase with the phase artifacts
    its kind consumes as the ``translated_source_dir`` / ``pseudo_label_dir``
    arguments of its ``UDADataset``), optimizer wrappers and lr schedule
    (the runner's ``optim_wrapper`` / ``param_scheduler`` configs, keyed by
    phase kind or a kind's fallback key such as segmentation; both
    :mod:`.phase_context`), and weight policy (``init``;
    :mod:`.loop_state`): ``'continue'`` from the current weights or
    ``'initial'`` (the weights the run started with; the release retrains M
    from the ImageNet initialisation for every segmentation run). Before each
    phase that trains the translator, its perceptual model receives the
    current segmentor (``BDL.load_perceptual_weights``).

    Hooks derived from :class:`~mmbdl.engine.hooks.BDLHook` get
    ``before_phase(runner, phase)`` / ``after_phase(runner, phase)`` around
    each phase and return the :class:`~mmbdl.engine.hooks.PhaseArtifacts`
    they wrote; the loop keeps the record (:attr:`artifacts`, saved in its
    checkpoints). The standard iteration hooks run as in
    ``IterBasedTrainLoop`` with the global iteration. After each
    segmentation phase the val loop runs on the target val set and a row is
    added to ``work_dir/bdl_rounds.json`` / ``bdl_rounds.md`` (the
    :class:`~mmbdl.engine.hooks.round_table_hook.RoundTableHook` the loop
    adds); a checkpoint ``<phase name>.pth`` is saved.

    Resume (:mod:`.loop_state`): the global iteration is the state; the
    phase and its local iteration follow from it and the plan. The runner's
    ``optim_wrapper`` and ``param_schedulers`` are always those of the
    current phase, so MMEngine checkpoints hold the current phase's optimizer
    and scheduler state. Checkpoints also hold the plan (a resume with
    another plan or model is refused), which phase outputs were finalised,
    the RNG states and the CycleGAN image pools.

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): The runner's ``train_dataloader``;
            used by phases without an entry in ``phase_dataloaders``.
        num_rounds (int): K, the bidirectional rounds. Defaults to 2.
        num_ssl_rounds (int, optional): N, self-training rounds per K.
            Defaults to None: 2 (the paper's plan), or taken from ``plan``.
        source_only (bool, optional): Train M(0) first. Defaults to None:
            True (the paper's plan), or taken from ``plan``.
        phase_iters (dict): Iterations per phase kind (or per fallback key,
            e.g. segmentation for the kinds training M): an int, or for a
            kind that runs only in the rounds one int per round (e.g.
            ``translation=[400, 150]``).
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
        self_training (str | dict): 'offline' (pseudo-labels written
            before each self-training phase by ``PseudoLabelHook``) or
            'ema_teacher' (an ``EMATeacherSegmentor`` labels each target
            batch online), or a dict of them per phase kind; see
            :mod:`.phase_plan`. Defaults to 'offline'.
        val_interval (int, optional): Also evaluate every ``val_interval``
            iterations within each segmentation phase; the best value of
            ``report_metric`` (the config's top-level key, default 'mIoU')
            goes to the round table with its iteration and is kept as
            ``<phase>_best.pth`` (:mod:`~mmbdl.engine.hooks.round_table_hook`).
            Defaults to None (the phase-end evaluation only).
        headline (str): The round table's headline column and gains use the
            'last' iteration of each phase or its 'best' evaluation on val.
            Defaults to 'last' (choosing needs no target labels).
        continue_from (str): Later phases continue from the 'last' or the
            'best' weights of a segmentation phase. Defaults to 'last'.
        initial_weights (str, optional): A checkpoint loaded over the
            ``init_cfg`` weights to form the initial weights, the restart
            point of ``init='initial'`` phases (``load_from`` never is one;
            :mod:`.loop_state`). Defaults to None.
        allow_random_init (bool): Let segmentation phases start from a
            random backbone (demo, tests; a warning at every phase start).
            Defaults to False: refused, naming the key to set.
        translate_source (bool): Phases consuming the translated source
            set (adaptation, self-training) train on S' written by the
            ``SourceTranslationHook`` (refused without one). False trains
            them on the original source images (and refuses the hook).
            Defaults to True.
        plan (dict, optional): The phases as config data: ``first`` (before
            round 1) and ``round`` (each of the K rounds) lists of kind
            names or ``dict(kind=..., repeat=n)``, e.g. ``paper_plan(True,
            2)`` of :mod:`.phase_kinds` (the paper's plan with N=2).
            Defaults to None: the paper's plan from ``source_only`` and
            ``num_ssl_rounds``, which must then not be given.
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, dict],
                 num_rounds: int = 2,
                 num_ssl_rounds: Optional[int] = None,
                 source_only: Optional[bool] = None,
                 phase_iters: Optional[dict] = None,
                 phase_dataloaders: Optional[dict] = None,
                 init: Optional[dict] = None,
                 max_iters: Optional[int] = None,
                 val_after_phases: bool = True,
                 perceptual_from_segmentor: bool = True,
                 resume_image_pool: bool = True,
                 self_training: str = 'offline',
                 val_interval: Optional[int] = None,
                 headline: str = 'last',
                 continue_from: str = 'last',
                 initial_weights: Optional[str] = None,
                 allow_random_init: bool = False,
                 translate_source: bool = True,
                 plan: Optional[dict] = None) -> None:
        self._runner = runner
        self._default_dataloader_cfg = dataloader
        self.phase_dataloaders = dict(phase_dataloaders or {})
        self.val_after_phases = val_after_phases
        self.perceptual_from_segmentor = perceptual_from_segmentor
        self.resume_image_pool = resume_image_pool
        # a translator that does not train (FDA) gets no F phases
        translator = getattr(unwrap_model(runner.model), 'translator', None)
        kinds, self.phase_iters, self.init, self.phases = resolve_plan(
            num_rounds, num_ssl_rounds, source_only, phase_iters, init,
            max_iters, [type(h).__name__ for h in runner.hooks], plan,
            translator_trains=getattr(translator, 'trains', True))
        self.num_rounds = num_rounds
        self.num_ssl_rounds = num_ssl_rounds
        self.source_only = source_only
        self.artifacts = PhaseArtifacts()
        check_phase_hooks(runner.hooks)
        self._max_iters = self.phases[-1].end
        self._iter = 0
        self._epoch = 0
        self._max_epochs = 1
        self.stop_training = False
        self._dataloader = None
        self._iterator = None
        self._placeholder = NoDataLoader()
        self._finalised = -1  # index of the last phase whose end ran
        self._state_phase: Optional[int] = None  # phase restored by resume
        self._pending_rng = None
        self._pending_pools = None
        self._initial = InitialWeights(self.init)
        self._init_source = InitialWeightsSource(initial_weights,
                                                 allow_random_init)

        check_bdl_model(unwrap_model(runner.model), self.phases)
        check_source_translation(translate_source, runner.hooks,
                                 self.phases)
        self.translate_source = translate_source
        check_self_training(self_training, unwrap_model(runner.model),
                            [type(h).__name__ for h in runner.hooks],
                            self.init)
        self.self_training = self_training
        warn_unused_ignore_mask(
            unwrap_model(runner.model),
            [self._default_dataloader_cfg,
             *self.phase_dataloaders.values()])
        # the runner's optimizer / scheduler configs are keyed by phase kind
        self._optimizers = PhaseOptimizers(runner.optim_wrapper,
                                           runner.param_schedulers, kinds)
        check_kind_keys(self.phase_dataloaders, 'phase_dataloaders')
        # the runner builds and scales what it finds: give it phase 0's
        self._build_phase_optim(self.phases[0], scale=False)
        self._runner.register_hook(LoopStateHook(self))
        self._table = RoundTableHook(
            val_after_phases, val_interval, headline, continue_from,
            runner.cfg.get('report_metric', 'mIoU'))
        self._runner.register_hook(self._table)

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
        return list(self._table.rows)

    def locate(self, global_iter: int) -> Tuple[int, int]:
        """Phase index and local iteration of a global iteration.

        Args:
            global_iter (int): Iterations completed.

        Returns:
            tuple[int, int]: ``(phase index, local iteration)``;
            ``(len(phases), 0)`` when everything is trained.
        """
        return locate(self.phases, global_iter)

    @property
    def current_phase(self) -> Optional[Phase]:
        """Phase | None: The phase of the current iteration."""
        index, _ = self.locate(self._iter)
        return self.phases[index] if index < len(self.phases) else None

    # ------------------------------------------------------------------
    # Algorithm 1
    def run(self):
        """Run every remaining phase of the plan.

        Returns:
            nn.Module: The trained model.
        """
        runner = self.runner
        model = runner.model
        # the translator's own inputs (e.g. FDA's target images), refused
        # before the first phase rather than when F is first used
        # (a plan without translation phases may have no translator)
        translator = self._model().translator
        if translator is not None:
            translator.check_inputs()
        if hasattr(model, 'broadcast_parameters') and self._iter == 0:
            model.broadcast_parameters()
        if self._iter > 0:
            self._table.restore_rows(runner.message_hub)
        self._restore_run_start()
        self._publish_artifacts()
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
                previous.spec.apply_to(self._model())
                self._finish_phase(previous)
        for phase in self.phases[start:]:
            resumed = phase.index == start and local > 0
            if not resumed:
                self._start_phase(phase)
            self._enter_phase(phase, local if resumed else 0, resumed)
            while self._iter < phase.end and not self.stop_training:
                self._table.maybe_evaluate(runner, self._model(), phase,
                                           self._iter)
                runner.model.train()
                data_batch = next(self._iterator)
                self.run_iter(data_batch)
            runner.call_hook('after_train_epoch')
            if self.stop_training:
                break
            self._finish_phase(phase)
            local = 0
        self._table.write_table(runner, self._dataloader)
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

    # ------------------------------------------------------------------
    # phase boundaries
    def _start_phase(self, phase: Phase) -> None:
        """Everything before a phase's first iteration (not on resume)."""
        model = self._model()
        phase.spec.apply_to(model)
        self.runner.logger.info(
            f'==== phase {phase.index + 1}/{len(self.phases)}: {phase.name} '
            f'({phase.model_name}), iterations {phase.begin}..'
            f'{phase.end - 1}, init={self.init[phase.kind]} ====')
        self._init_source.check_phase(model, phase, self.phases, self.init,
                                      self.runner.logger)
        # a translator phase restarts F before the hooks; a segmentor phase
        # restarts M after them (its pseudo-labels come from the current M)
        if not phase.is_segmentation:
            self._initial.apply(model, phase, self.runner.logger)
            if self.perceptual_from_segmentor:
                transfer_perceptual_weights(model, phase, self.runner.logger)
        self._call_phase_hook('before_phase', phase)
        if phase.is_segmentation:
            self._initial.apply(model, phase, self.runner.logger)

    def _enter_phase(self, phase: Phase, local_iter: int,
                     resumed: bool) -> None:
        """Build the phase's dataloader (and optimizers unless resumed)."""
        phase.spec.apply_to(self._model())
        set_online_labels(self._model(), phase, self.self_training)
        forget_scalars(self.runner.message_hub)
        previous = self.phases[phase.index - 1]
        self._dataloader = build_phase_dataloader(
            self.runner,
            phase_dataloader_cfg(phase, previous, self.artifacts,
                                 self.phase_dataloaders,
                                 self._default_dataloader_cfg,
                                 mode_of(self.self_training,
                                         phase.kind) == 'ema_teacher',
                                 translate_source=self.translate_source))
        if not (resumed and self._state_phase == phase.index):
            self._build_phase_optim(phase)
        else:
            self.runner.optim_wrapper.initialize_count_status(
                self._phase_module(phase), local_iter, phase.iters)
        if local_iter > 0:
            self.runner.logger.info(
                f'{phase.name}: resuming at local iteration {local_iter}; '
                'skipping the batches already trained on')
        self._iterator = advanced_iterator(self._dataloader, local_iter)
        if resumed:
            self._restore_rng()
        self.runner.call_hook('before_train_epoch')

    def _finish_phase(self, phase: Phase) -> None:
        """Val, row, ``after_phase`` hooks and the phase checkpoint."""
        runner = self.runner
        # the phase's weights first: the after_phase work (S' of 24,966
        # images: hours) then never has to retrain the phase after a kill.
        # `_finalised` is not advanced yet, so a resume from this file redoes
        # the evaluation and the after_phase hooks; the file is written
        # again, finalised, below
        self._save_phase_checkpoint(phase)
        # the after_phase hooks first: the statistics of labels made during
        # the phase (EMA teacher) are among what they return
        self._call_phase_hook('after_phase', phase)
        # the segmentation phase's evaluation and round-table row
        self._table.finish_phase(runner, self._model(), phase,
                                 self._dataloader,
                                 self.artifacts.pseudo_label_stats)
        self._finalised = phase.index
        self._save_phase_checkpoint(phase)
        release_phase_memory(self._dataloader)

    def _call_phase_hook(self, event: str, phase: Phase) -> None:
        for hook in self.runner.hooks:
            if isinstance(hook, BDLHook):
                self.artifacts.update(getattr(hook, event)(self.runner, phase))
                self._publish_artifacts()
        barrier()

    def _publish_artifacts(self) -> None:
        """Mirror the artifacts as message-hub infos (for tools watching a
        run; the loop itself reads only :attr:`artifacts`)."""
        for key, value in self.artifacts.to_dict().items():
            if value is not None:
                self.runner.message_hub.update_info(key, value)

    # ------------------------------------------------------------------
    # helpers
    def _model(self):
        return unwrap_model(self.runner.model)

    def _phase_module(self, phase: Phase):
        return phase_module(self._model(), phase)

    def _build_phase_optim(self, phase: Phase, scale: bool = True) -> None:
        epoch_length = (len(self._dataloader)
                        if self._dataloader is not None else None)
        self._optimizers.build(self.runner, self._phase_module(phase), phase,
                               epoch_length, scale=scale)


# ----------------------------------------------------------------------
# a finished phase's memory, handed back before the next phase starts.
# A phase leaves behind its dataloader's worker processes (persistent
# workers live as long as the dataloader) and, in the training process,
# heap pages that glibc keeps after the tensors on them are freed (the F
# phase frees several GB of activations per step). The next phase forks its
# own workers from the training process, so whatever the process still
# holds is copied into every worker's address space.
def trim_heap() -> bool:
    """Return free heap pages to the OS (glibc ``malloc_trim``).

    Returns:
        bool: Whether glibc's ``malloc_trim`` was called.
    """
    try:
        libc = ctypes.CDLL('libc.so.6')
    except OSError:
        return False
    trim = getattr(libc, 'malloc_trim', None)
    if trim is None:
        return False
    trim(0)
    return True


def release_phase_memory(dataloader: Optional[object] = None) -> None:
    """Workers down, garbage collected, heap trimmed, CUDA cache emptied.

    Args:
        dataloader (optional): The finished phase's dataloader.
    """
    if dataloader is not None:
        shutdown_workers(dataloader)
    gc.collect()
    trim_heap()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
