"""The global random number generators' states, saved and restored (the
BDL loop's checkpoints; an evaluation that must not change training)."""
import random

import numpy as np
import torch


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
