"""Reading a checkpoint's state dict and loading the part of it that fits.

:func:`read_state_dict` reads any file (or URL, or scheme) that MMEngine's
``CheckpointLoader`` reads, on the CPU, and returns its ``state_dict`` (or
the file itself, where it is a plain state dict). :func:`load_fitting_weights`
loads into a module the weights whose names (``module.`` ignored) and shapes
match, leaving the others as they are; the caller counts and checks the
match first (:func:`~mmbdl.utils.weights.key_match.match_keys`).
"""
from typing import Dict

from mmengine.runner.checkpoint import CheckpointLoader
from torch import Tensor, nn


def read_state_dict(filename: str) -> Dict[str, Tensor]:
    """The state dict of a checkpoint, loaded on the CPU.

    Args:
        filename (str): Path, URL or any scheme of ``CheckpointLoader``.

    Returns:
        dict: The checkpoint's ``state_dict``, or the checkpoint itself
        where it has none.
    """
    checkpoint = CheckpointLoader.load_checkpoint(filename, map_location='cpu')
    return checkpoint.get('state_dict', checkpoint)


def load_fitting_weights(module: nn.Module, state: Dict[str, Tensor]) -> None:
    """Load the weights of ``state`` that fit ``module`` (``strict=False``).

    A key fits when, without a leading ``module.``, it names a parameter or
    buffer of the module with the same shape; the others are skipped and
    the module's weights they would have replaced are kept.

    Args:
        module (nn.Module): The module to load into.
        state (dict): Keys -> tensors.
    """
    state = {k[len('module.'):] if k.startswith('module.') else k: v
             for k, v in state.items()}
    own = module.state_dict()
    module.load_state_dict(
        {k: v for k, v in state.items()
         if k in own and tuple(v.shape) == tuple(own[k].shape)},
        strict=False)
