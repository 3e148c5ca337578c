"""Who owns the derived phase outputs in a work dir (translated source
sets, pseudo-label rounds): a fresh run does.

A fresh (not resumed) run of the BDL loop replaces the outputs another run
left in the folders it is going to write, with a warning naming them, so a
second run in the same work dir (e.g. with another seed) cannot stop halfway
on them or, worse, train on them. A hook given ``keep_previous=True``
refuses instead, before any training. Only folders written by mmbdl are
replaced; anything else there stops the run with nothing changed.
Checkpoints are never touched.
"""
import os
import os.path as osp
import shutil
from typing import Callable, List, Optional, Sequence

from mmengine.dist import barrier, get_dist_info

from mmbdl.utils.errors import RunStateError


def serves(phase, kinds: Optional[Sequence[str]], artifact: str,
           role: str) -> bool:
    """Whether a hook acts on ``phase``.

    Args:
        phase (Phase): A phase of the BDL plan.
        kinds (Sequence[str], optional): The hook's ``kinds``; None: every
            kind whose spec lists ``artifact`` under ``role``.
        artifact (str): 'translated_source' or 'pseudo_labels'.
        role (str): 'consumes' or 'produces'.

    Returns:
        bool: Whether the phase's kind is one the hook serves.
    """
    if kinds is not None:
        return phase.kind in kinds
    return artifact in getattr(phase.spec, role)


def planned_phases(runner, kinds: Optional[Sequence[str]], artifact: str,
                   role: str) -> List:
    """The phases of the BDL plan the hook serves (see :func:`serves`;
    empty for other loops)."""
    phases = getattr(runner.train_loop, 'phases', None) or []
    return [p for p in phases if serves(p, kinds, artifact, role)]


def claim_phase_outputs(runner, folders: Sequence[str], what: str,
                        owner: str, keep_previous: bool,
                        is_ours: Callable[[str], bool]) -> List[str]:
    """Make a fresh run the owner of the phase-output folders it will write.

    Does nothing for a resumed run (``runner.iter > 0``): its folders are
    its own, finished or not.

    Args:
        runner (Runner): The runner.
        folders (Sequence[str]): The folders this run will write.
        what (str): What they hold (for the messages).
        owner (str): The hook's name (for the messages).
        keep_previous (bool): Refuse instead of replacing.
        is_ours (Callable[[str], bool]): Whether a folder was written by
            mmbdl (only those are replaced).

    Returns:
        list[str]: The folders that were replaced.

    Raises:
        RunStateError: For folders that are not mmbdl's, or any previous
            outputs with ``keep_previous=True``.
    """
    if runner.iter > 0:
        return []
    present = [f for f in folders if osp.isdir(f) and os.listdir(f)]
    present += [f for f in folders if osp.exists(f) and not osp.isdir(f)]
    if not present:
        return []
    foreign = [f for f in present if not is_ours(f)]
    if foreign:
        raise RunStateError(
            f'{owner}: {foreign} must hold the {what} of this run but hold '
            'something not written by mmbdl; nothing was changed: move it '
            'away or use another --work-dir / out_root')
    if keep_previous:
        raise RunStateError(
            f'{owner}: this fresh run would replace the {what} that another '
            f'run left in {present}, but keep_previous=True asks to keep '
            'them, so nothing was trained: resume that run (--resume), use '
            'another --work-dir, or set keep_previous=False')
    runner.logger.warning(
        f'{owner}: fresh run in a used work dir: replacing the {what} left '
        f'by another run in {present} (checkpoints are kept; pass '
        'keep_previous=True to refuse instead)')
    rank, world = get_dist_info()
    if rank == 0:
        for path in present:
            shutil.rmtree(path)
    if world > 1:
        barrier()
    return present
