"""Resume and restart state of the BDL loop.

Resume: what a resumed loop needs besides the weights. Checkpoints get
``meta['bdl']`` (the plan, the init policies, the index of the last
finalised phase, the phase artifacts, the RNG states) and
``bdl_image_pools`` (the CycleGAN image pools); each phase ends with its
checkpoint ``<phase name>.pth``, named in ``last_checkpoint``.

Restart: the initial weights, the restart point of phases with
``init='initial'`` (kept in memory and in
``work_dir/bdl_initial_weights.pth`` for resumed runs), and where they come
from. They are the model's weights after its ``init_cfg`` (the ImageNet
backbone of the paper configs), overlaid with ``train_cfg.initial_weights``
when it is set. ``load_from`` never changes them: MMEngine applies it after
they are taken, so it only sets what the first phase starts from when that
phase continues. Every load is counted and checked
(:func:`~mmbdl.engine.hooks.weights_check_hook.check_segmentor_checkpoint`).
A segmentation phase whose M would start from a random backbone is refused
unless ``train_cfg.allow_random_init``; a resumed run is not checked.
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.dist import barrier, is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmbdl.engine.hooks.bdl_hook import PhaseArtifacts
from mmbdl.engine.hooks.weights_check_hook import (backbone_init_source,
                                                   check_segmentor_checkpoint,
                                                   random_backbone_message)
from mmbdl.utils.atomic_write import atomic_open, atomic_path
from mmbdl.utils.errors import ConfigCheckError, MissingFileError
from mmbdl.utils.model_utils import unwrap_model
from mmbdl.utils.rng_state import get_rng, set_rng
from mmbdl.utils.runner_internals import load_from, resume_requested
from mmbdl.utils.weights import load_fitting_weights, read_state_dict
from .phase_context import NoDataLoader
from .phase_plan import Phase

ARTIFACT_FIELDS = ('translated_source_dir', 'pseudo_label_dir',
                   'pseudo_label_stats')


class LoopStateHook(Hook):
    """Stores and restores the loop's resume state through checkpoints.

    Added by the loop itself; users never configure it. The state is the
    loop's own (:class:`LoopCheckpointState`); this hook only connects it to
    MMEngine's checkpoint events.

    Args:
        loop (BidirectionalTrainLoop): The loop whose state it carries.
    """

    priority = 'VERY_HIGH'

    def __init__(self, loop) -> None:
        self.loop = loop

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        self.loop.save_state(checkpoint)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Check the checkpoint's plan and prepare its phase's optimizers.

        Runs before MMEngine loads the optimizer and scheduler states, so
        the runner's wrappers are the checkpoint phase's when they are
        loaded.
        """
        if resume_requested(runner):
            self.loop.load_state(checkpoint)
        else:
            self.loop.note_load_from(checkpoint, load_from(runner))


class LoopCheckpointState:
    """The resume and restart part of :class:`BidirectionalTrainLoop`: its
    checkpoint state (``meta['bdl']``, ``bdl_image_pools``), its phase
    checkpoints, and the initial weights when a run (re)starts.
    """

    def save_state(self, checkpoint: dict) -> None:
        """Add the loop's state to a checkpoint being saved.

        Args:
            checkpoint (dict): The checkpoint (``meta['iter']`` set).
        """
        state = dict(
            plan=plan_signature(self.phases),
            init=dict(self.init),
            finalised=self._finalised,
            artifacts=self.artifacts.to_dict(),
            rng=get_rng(),
            work_dir=osp.abspath(self.runner.work_dir))
        index, _ = self.locate(max(checkpoint['meta'].get('iter', 0) - 1, 0))
        in_translator = (index < len(self.phases)
                         and self.phases[index].spec.trains == 'translator')
        continued = any(self.init[p.kind] == 'continue'
                        for p in self.phases if p.spec.trains == 'translator')
        if self.resume_image_pool and (in_translator or continued):
            checkpoint['bdl_image_pools'] = get_image_pools(
                self._model().translator)
        checkpoint['meta']['bdl'] = state

    def note_load_from(self, checkpoint: dict, filename: str) -> None:
        """``load_from``: checked, and the initial weights (restart point)
        taken before MMEngine copies the checkpoint into the model.

        Args:
            checkpoint (dict): The loaded checkpoint.
            filename (str): Its path.
        """
        runner = self.runner
        self._init_source.note_load_from(self._model(), checkpoint, filename)
        self._init_source.prepare(self._model(), runner.logger)
        self._initial.snapshot(self._model(), runner.work_dir, False)

    def load_state(self, checkpoint: dict) -> None:
        """Restore the loop's state from a checkpoint being resumed.

        Args:
            checkpoint (dict): The loaded checkpoint.
        """
        state = read_bdl_state(checkpoint, self.phases)
        check_resume_weights(self._model(), checkpoint.get('state_dict', {}))
        meta = checkpoint['meta']
        global_iter = int(meta['iter'])
        self._iter = global_iter
        self._finalised = int(state.get('finalised', -1))
        self.artifacts = relocated_artifacts(
            saved_artifacts(state, checkpoint), state.get('work_dir'),
            self.runner.work_dir)
        # the phase that was running when the checkpoint was written
        index, _ = self.locate(max(global_iter - 1, 0))
        index = min(index, len(self.phases) - 1)
        self._state_phase = index
        phase = self.phases[index]
        phase.spec.apply_to(self._model())
        self._build_phase_optim(phase)
        self._placeholder = NoDataLoader(meta.get('dataset_meta'))
        self._pending_rng = state.get('rng')
        self._pending_pools = checkpoint.get('bdl_image_pools')

    def _restore_run_start(self) -> None:
        """At the start of :meth:`run`: the initial weights taken (a fresh
        run; ``initial_weights`` overlaid first) or reloaded (a resumed
        one), and a resumed checkpoint's image pools put back."""
        runner = self.runner
        self._init_source.resumed = self._iter > 0
        if self._iter == 0:
            self._init_source.prepare(self._model(), runner.logger)
        self._initial.snapshot(self._model(), runner.work_dir, self._iter > 0)
        if self._pending_pools is not None:
            load_image_pools(self._model().translator, self._pending_pools)
            self._pending_pools = None

    def _restore_rng(self) -> None:
        """Put back the RNG states of the resumed checkpoint (once)."""
        if self._pending_rng is not None:
            set_rng(self._pending_rng)
            self._pending_rng = None

    def _save_phase_checkpoint(self, phase: Phase) -> None:
        """Write ``<phase>.pth`` and point ``last_checkpoint`` at it."""
        runner = self.runner
        filename = f'{phase.name}.pth'
        runner.save_checkpoint(
            runner.work_dir, filename, meta=dict(iter=phase.end, epoch=0))
        if is_main_process():
            path = osp.join(runner.work_dir, filename)
            with atomic_open(osp.join(runner.work_dir, 'last_checkpoint'),
                             'w', what='checkpoint record') as f:
                f.write(path)
        barrier()


def saved_artifacts(state: dict, checkpoint: dict) -> PhaseArtifacts:
    """The phase artifacts of a checkpoint; one written before the loop
    kept them has them as message-hub infos of the same names."""
    if 'artifacts' in state:
        return PhaseArtifacts.from_dict(state['artifacts'])
    info = checkpoint.get('message_hub', {}).get('runtime_info', {})
    return PhaseArtifacts(**{f: info.get(f) for f in ARTIFACT_FIELDS})


def relocated_artifacts(artifacts: PhaseArtifacts, saved_work_dir,
                        work_dir: str) -> PhaseArtifacts:
    """The artifact folders of a checkpoint written in another work dir
    (a copied or moved one), moved into ``work_dir``.

    A folder under the saved work dir becomes the same folder under
    ``work_dir``; one outside it (an ``out_root`` of the config) is kept,
    with a warning that the resumed run reads it.

    Args:
        artifacts (PhaseArtifacts): The checkpoint's artifacts.
        saved_work_dir (str, optional): The work dir the checkpoint was
            written in (None for checkpoints that did not record it).
        work_dir (str): This run's work dir.

    Returns:
        PhaseArtifacts: The artifacts with relocated folders.
    """
    if not saved_work_dir:
        return artifacts
    old, new = osp.abspath(saved_work_dir), osp.abspath(work_dir)
    if old == new:
        return artifacts
    for name in ('translated_source_dir', 'pseudo_label_dir'):
        path = getattr(artifacts, name)
        if not path:
            continue
        path = osp.abspath(path)
        if osp.commonpath([path, old]) == old:
            setattr(artifacts, name,
                    osp.join(new, osp.relpath(path, old)))
        else:
            print_log(
                f'resume: {name} {path} lies outside the work dir the '
                f'checkpoint was written in ({old}); this run in {new} '
                'reads it from there', logger='current', level=30)
    return artifacts


def plan_signature(phases: Sequence[Phase]) -> List[list]:
    """``[[name, iters], ...]``: what a resume must plan identically."""
    return [[p.name, p.iters] for p in phases]


def read_bdl_state(checkpoint: dict, phases: Sequence[Phase]) -> dict:
    """The loop state of a checkpoint, refusing one of another plan.

    Args:
        checkpoint (dict): A loaded checkpoint.
        phases (Sequence[Phase]): This run's plan.

    Returns:
        dict: ``checkpoint['meta']['bdl']``.
    """
    state = checkpoint.get('meta', {}).get('bdl')
    if state is None:
        raise ConfigCheckError(
            'the checkpoint to resume from was not written by '
            'BidirectionalTrainLoop (no meta["bdl"]); resume only from '
            'checkpoints of a BDL run, or use load_from to start a new '
            'run from its weights')
    plan = [list(p) for p in state['plan']]
    if plan != plan_signature(phases):
        raise ConfigCheckError(
            'the checkpoint to resume from belongs to another BDL config: '
            f'its phases are {plan}, this config plans '
            f'{plan_signature(phases)}. Resume with the original config, '
            'or start a fresh run in another --work-dir')
    return state


def check_resume_weights(model: nn.Module, state_dict: dict) -> None:
    """Refuse to resume a model from a checkpoint of another model."""
    own = model.state_dict()
    theirs = {k[len('module.'):] if k.startswith('module.') else k: v
              for k, v in state_dict.items()}
    missing = sorted(set(own) - set(theirs))
    unexpected = sorted(set(theirs) - set(own))
    shapes = [k for k in set(own) & set(theirs)
              if tuple(own[k].shape) != tuple(theirs[k].shape)]
    if missing or unexpected or shapes:
        raise ConfigCheckError(
            'the checkpoint to resume from holds another model: '
            f'{len(missing)} keys missing (e.g. {missing[:3]}), '
            f'{len(unexpected)} unexpected (e.g. {unexpected[:3]}), '
            f'{len(shapes)} with other shapes (e.g. {shapes[:3]}). '
            'Resume with the config that wrote it, or start a fresh run')


# ----------------------------------------------------------------------
# the translator's resume state (CycleGAN: the image pools of the D updates)
def get_image_pools(translator) -> Optional[dict]:
    """The translator's resume state (:meth:`BaseTranslator.resume_state`).
    """
    return unwrap_model(translator).resume_state()


def load_image_pools(translator, state: Optional[dict]) -> None:
    """Restore the state saved by :func:`get_image_pools`."""
    unwrap_model(translator).load_resume_state(state)


def reset_image_pools(translator) -> None:
    """Forget the translator's resume state (a restarted translator)."""
    unwrap_model(translator).reset_resume_state()


# ----------------------------------------------------------------------
# the restart point of init='initial' phases
INITIAL_WEIGHTS_FILE = 'bdl_initial_weights.pth'


class InitialWeights:
    """The weights the run started with, for phases with ``init='initial'``.

    The release retrains M from its initialisation for every segmentation
    run; ``init='initial'`` does the same. The weights are kept in memory
    and in ``work_dir/bdl_initial_weights.pth`` (for resumed runs).

    Args:
        init (dict): Policy per phase kind, ``'continue'`` or ``'initial'``.
    """

    def __init__(self, init: Dict[str, str]) -> None:
        self.init = init
        self.state: Optional[Dict[str, Dict]] = None

    def snapshot(self, model, work_dir: str, resumed: bool) -> None:
        """Keep the weights the run starts with (or, resumed, reload them).

        Args:
            model (BDL): The unwrapped model.
            work_dir (str): The run's work dir.
            resumed (bool): The run continues a checkpoint.
        """
        if 'initial' not in self.init.values() or (
                self.state is not None and not resumed):
            return  # nothing to keep, or taken before load_from applied
        path = osp.join(work_dir, INITIAL_WEIGHTS_FILE)
        if resumed:
            if not osp.isfile(path):
                raise MissingFileError(
                    f'{path} is missing: it holds the initial weights that '
                    "phases with init='initial' restart from; a resumed run "
                    'needs the file of its first start (or start afresh)')
            self.state = torch.load(path, map_location='cpu')
            return
        self.state = dict(
            segmentor=model.state_dict_of('segmentor'),
            translator={
                k: v
                for k, v in model.state_dict_of('translator').items()
                if not k.startswith('perceptual')
            } if getattr(model, 'translator', None) is not None else {})
        if is_main_process():
            with atomic_path(path, what='initial weights') as tmp:
                torch.save(self.state, tmp)

    def apply(self, model, phase: Phase, logger) -> None:
        """Restore the initial weights of what the phase trains, if its
        policy is ``'initial'``.

        Args:
            model (BDL): The unwrapped model.
            phase (Phase): The phase about to start.
            logger (MMLogger): The runner's logger.
        """
        if self.init[phase.kind] != 'initial' or self.state is None:
            return
        part = phase.spec.trains
        if part == 'translator':
            missing = model.translator.load_state_dict(
                self.state['translator'], strict=False)
            bad = [k for k in missing.missing_keys
                   if not k.startswith('perceptual')]
            if bad or missing.unexpected_keys:
                raise RuntimeError(
                    f'initial translator weights do not fit: missing {bad}, '
                    f'unexpected {missing.unexpected_keys}')
            reset_image_pools(model.translator)
        else:
            model.segmentor.load_state_dict(
                self.state['segmentor'], strict=True)
        logger.info(
            f'{phase.name}: weights re-initialised to the initial ones '
            f'({len(self.state[part])} {part} keys matched, 0 missing, '
            '0 unexpected)')


class InitialWeightsSource:
    """Provenance of M's backbone in a BDL run.

    Args:
        initial_weights (str, optional): ``train_cfg.initial_weights``: a
            checkpoint (BDL, segmentor or converted release weights with
            the model's key names) loaded over the ``init_cfg`` weights to
            form the restart point. Defaults to None.
        allow_random_init (bool): ``train_cfg.allow_random_init``: train a
            random backbone on purpose (demo, tests); a warning is logged
            at every phase start instead of the refusal. Defaults to False.
    """

    def __init__(self, initial_weights: Optional[str] = None,
                 allow_random_init: bool = False) -> None:
        self.initial_weights = initial_weights
        self.allow_random_init = allow_random_init
        self.initial_source: Optional[str] = None  # backbone of the restarts
        self.load_from_source: Optional[str] = None  # backbone of phase 1
        self.prepared = False
        self.resumed = False

    def prepare(self, model, logger) -> None:
        """Overlay ``initial_weights`` and note the backbone's source.

        Called once, before the initial snapshot (before ``load_from`` is
        applied when there is one).

        Args:
            model (BDL): The unwrapped model.
            logger (MMLogger): The runner's logger.
        """
        if self.prepared:
            return
        self.prepared = True
        self.initial_source = backbone_init_source(model)
        if self.initial_weights is None:
            return
        state = read_state_dict(self.initial_weights)
        match, backbone = check_segmentor_checkpoint(
            model, state, f'train_cfg.initial_weights {self.initial_weights}')
        load_fitting_weights(model, state)
        if backbone:
            self.initial_source = self.initial_weights
        logger.info(f'initial weights: {match.summary()}')

    def note_load_from(self, model, checkpoint: dict, filename: str) -> None:
        """Check a ``load_from`` checkpoint before MMEngine loads it.

        Args:
            model (BDL): The unwrapped model.
            checkpoint (dict): The loaded checkpoint.
            filename (str): Its path, for messages.
        """
        state = checkpoint.get('state_dict', checkpoint)
        _, backbone = check_segmentor_checkpoint(model, state,
                                                 f'load_from {filename}')
        if backbone:
            self.load_from_source = filename

    def check_phase(self, model, phase: Phase, phases: Sequence[Phase],
                    init: dict, logger) -> None:
        """Refuse (or warn about) a segmentation phase on a random backbone.

        Args:
            model (BDL): The unwrapped model.
            phase (Phase): The phase about to start.
            phases (Sequence[Phase]): The plan.
            init (dict): Init policy per phase kind.
            logger (MMLogger): The runner's logger.

        Raises:
            ConfigCheckError: Naming the keys to set, for a random backbone
                without ``allow_random_init``.
        """
        if self.resumed:
            return
        if not phase.is_segmentation:
            return
        if init[phase.kind] == 'initial':
            source = self.initial_source
        elif any(p.is_segmentation for p in phases[:phase.index]):
            return  # continues from weights trained in this run
        else:
            source = self.load_from_source or self.initial_source
        if source is not None:
            return
        if self.allow_random_init:
            # once per run, at the first phase that starts from them
            if not getattr(self, '_random_init_warned', False):
                self._random_init_warned = True
                logger.warning(
                    f'{phase.name}: train_cfg.allow_random_init=True and '
                    "M's backbone started from random weights (so do later "
                    "phases with init='initial'; fine for the demo and "
                    'tests; paper numbers need the pretrained initial '
                    'weights, docs/pretrained_weights.md)')
            return
        note = ''
        if self.load_from_source is not None:
            note = (f' (load_from {self.load_from_source} is not a restart '
                    f"point: this phase has init='initial')")
        raise ConfigCheckError(f'{phase.name}: ' + random_backbone_message(
            model, 'train_cfg.allow_random_init') + note)
