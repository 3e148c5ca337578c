"""Optimizers and optimizer wrapper constructors of mmbdl."""
from .cyclegan_epoch_decay_lr import CycleGANEpochDecayLR
from .multi_submodule_optim_wrapper_constructor import \
    MultiSubmoduleOptimWrapperConstructor
from .release_param_list_optim_wrapper_constructor import (
    ReleaseParamListOptimWrapperConstructor, release_multiplicity)
from .repeated_sgd import RepeatedSGD
from .vit_layer_decay_optim_wrapper_constructor import \
    ViTLayerDecayOptimWrapperConstructor
from .warmup_linear_lr import WarmupLinearLR, warmup_linear_factor

__all__ = [
    'CycleGANEpochDecayLR',
    'MultiSubmoduleOptimWrapperConstructor',
    'ReleaseParamListOptimWrapperConstructor', 'RepeatedSGD',
    'ViTLayerDecayOptimWrapperConstructor', 'WarmupLinearLR',
    'release_multiplicity', 'warmup_linear_factor'
]
