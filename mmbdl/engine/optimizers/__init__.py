"""Optimizers and optimizer wrapper constructors of mmbdl."""
from .cyclegan_epoch_decay_lr import CycleGANEpochDecayLR
from .multi_submodule_optim_wrapper_constructor import \
    MultiSubmoduleOptimWrapperConstructor
from .release_param_list_optim_wrapper_constructor import (
    ReleaseParamListOptimWrapperConstructor, release_multiplicity)
from .repeated_sgd import RepeatedSGD

__all__ = [
    'CycleGANEpochDecayLR',
    'MultiSubmoduleOptimWrapperConstructor',
    'ReleaseParamListOptimWrapperConstructor', 'RepeatedSGD',
    'release_multiplicity'
]
