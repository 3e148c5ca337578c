"""Optimizer wrapper constructors of mmbdl."""
from .multi_submodule_optim_wrapper_constructor import \
    MultiSubmoduleOptimWrapperConstructor

__all__ = ['MultiSubmoduleOptimWrapperConstructor']
