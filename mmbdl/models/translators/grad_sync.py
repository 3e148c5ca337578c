"""Gradient averaging for translator optimizers MMagic's DDP path skips."""
from mmengine.dist import all_reduce_params


def step_with_grad_sync(wrapper):
    """``wrapper.step`` preceded by a mean all-reduce of its gradients.

    MMagic's CycleGAN calls its networks through ``.module``, bypassing
    DDP's gradient reduction; this step averages the gradients of every
    parameter of the wrapper's optimizer over the ranks first (idempotent if
    something else already synchronised them).

    Args:
        wrapper (OptimWrapper): The wrapper whose ``step`` is wrapped.

    Returns:
        Callable: The synchronising ``step(**kwargs)``.
    """
    step = type(wrapper).step.__get__(wrapper)

    def synced_step(**kwargs):
        grads = [
            p.grad for group in wrapper.optimizer.param_groups
            for p in group['params'] if p.grad is not None
        ]
        if grads:
            all_reduce_params(grads, coalesce=True, op='mean')
        return step(**kwargs)

    return synced_step
