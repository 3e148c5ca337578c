"""Where the loop's initial weights come from, and the random-init refusal.

The initial weights (the restart point of phases with ``init='initial'``)
are the model's weights after its ``init_cfg`` (the ImageNet backbone of
the paper configs), overlaid with ``train_cfg.initial_weights`` when it is
set. ``load_from`` never changes them: MMEngine applies it after they are
taken, so it only sets what the first phase starts from when that phase
continues. Every load is counted and checked
(:func:`~mmbdl.engine.hooks.weights_check_hook.check_segmentor_checkpoint`).
A segmentation phase whose M would start from a random backbone is refused
unless ``train_cfg.allow_random_init``; a resumed run is not checked.
"""
from typing import Optional, Sequence

from mmbdl.engine.hooks.weights_check_hook import (backbone_init_source,
                                                   check_segmentor_checkpoint,
                                                   random_backbone_message)
from mmbdl.utils.errors import ConfigCheckError
from mmbdl.utils.weights import load_fitting_weights, read_state_dict
from .phase_plan import Phase


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
