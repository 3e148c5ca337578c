"""The few MMEngine / PyTorch fields that have no public accessor.

MMEngine's ``Runner`` keeps the ``resume`` / ``load_from`` / ``randomness``
arguments it was built with private (``runner.cfg`` is empty for a runner
built from arguments), ``MessageHub`` has no call to forget a scalar, and
a ``DataLoader`` has no call to stop its persistent workers. mmbdl reads
and changes them here only, so an MMEngine or PyTorch update that renames
one breaks one module, loudly (``AttributeError``).
"""
from typing import Optional


def resume_requested(runner) -> bool:
    """bool: Whether the runner was built to resume (``resume=True``); a
    stand-in without the field (a tool's) does not resume."""
    return bool(getattr(runner, '_resume', False))


def load_from(runner) -> Optional[str]:
    """str | None: The runner's ``load_from`` argument."""
    return runner._load_from


def randomness_cfg(runner) -> dict:
    """dict: The runner's ``randomness`` argument."""
    return dict(runner._randomness_cfg or {})


def forget_scalars(message_hub, keep=('train/time', 'train/data_time'),
                   prefix: str = 'train/') -> None:
    """Drop the ``prefix`` scalars (but ``keep``) from a message hub, so a
    new phase's log does not average in the previous phase's losses.

    Args:
        message_hub (MessageHub): The runner's message hub.
        keep (Sequence[str]): Scalars to keep.
        prefix (str): Prefix of the scalars to drop.
    """
    scalars = message_hub._log_scalars
    resumed = message_hub._resumed_keys
    for key in list(scalars):
        if key.startswith(prefix) and key not in keep:
            scalars.pop(key)
            resumed.pop(key, None)


def shutdown_workers(dataloader) -> None:
    """Stop the worker processes of a dataloader (no-op without workers).

    Args:
        dataloader: A ``torch.utils.data.DataLoader`` (or anything else).
    """
    iterator = getattr(dataloader, '_iterator', None)
    if iterator is not None and hasattr(iterator, '_shutdown_workers'):
        iterator._shutdown_workers()
    if hasattr(dataloader, '_iterator'):
        dataloader._iterator = None
