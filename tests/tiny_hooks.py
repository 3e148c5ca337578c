"""A hook used by the distributed tests: every rank dumps its weights."""
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook

from mmbdl.registry import HOOKS
from mmbdl.utils import unwrap_model


@HOOKS.register_module()
class DumpRankWeightsHook(Hook):
    """Save ``rank{r}.pth`` with the model's state dict after training."""

    def after_train(self, runner) -> None:
        state = unwrap_model(runner.model).state_dict()
        torch.save({k: v.cpu() for k, v in state.items()},
                   osp.join(runner.work_dir, f'rank{get_rank()}.pth'))
