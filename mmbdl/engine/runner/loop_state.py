"""What a resumed BDL loop needs besides the weights: its plan, which
phases were finalised, the phase artifacts, the RNG states and the CycleGAN
image pools."""
import os.path as osp
import random
from typing import List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmbdl.engine.hooks.bdl_hook import PhaseArtifacts
from mmbdl.utils.errors import ConfigCheckError
from mmbdl.utils.model_utils import unwrap_model
from mmbdl.utils.runner_internals import load_from, resume_requested
from .phase_data import NoDataLoader
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
    """The checkpoint part of :class:`BidirectionalTrainLoop`.

    Checkpoints get ``meta['bdl']`` (the plan, the init policies, the index
    of the last finalised phase, the phase artifacts and the RNG states) and
    ``bdl_image_pools``.
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
# random number generators
def get_rng() -> dict:
    """The states of torch's, numpy's and Python's global RNGs."""
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


def set_rng(state: dict) -> None:
    """Restore the states saved by :func:`get_rng`."""
    torch.set_rng_state(state['torch'])
    name, keys, pos, has_gauss, cached = state['numpy']
    np.random.set_state(
        (name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    random.setstate((state['python_version'], tuple(state['python']),
                     state['python_gauss']))
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state['cuda'])


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
