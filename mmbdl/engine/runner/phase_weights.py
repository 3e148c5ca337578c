"""The weights a phase starts from: its init policy ('continue' or
'initial') and, before a translation phase, the perceptual model's copy of
the current segmentor."""
import os.path as osp
from typing import Dict, Optional

import torch
from mmengine.dist import is_main_process

from mmbdl.utils.atomic_write import atomic_path
from mmbdl.utils.errors import (ConfigCheckError, ConfigTypeError,
                                MissingFileError)
from .loop_state import reset_image_pools
from .phase_plan import Phase

INITIAL_WEIGHTS_FILE = 'bdl_initial_weights.pth'


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
