"""A third translator, defined outside mmbdl (a test double of a plugin):
a learned per-pixel colour transform (a 1x1 convolution) per direction.

It implements :class:`mmbdl.models.translators.BaseTranslator` and nothing
else; configs load it with ``custom_imports``.
"""
from typing import Dict, Tuple

import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor

from mmbdl.models.translators import (BaseTranslator, ImageNormalization,
                                      get_generator_normalization)
from mmbdl.registry import MODELS


@MODELS.register_module()
class ColourTransformTranslator(BaseModel, BaseTranslator):
    """``convs[d]`` maps an image into domain ``d``; trained to match the
    other domain's per-channel mean (starts as the identity)."""

    def __init__(self, data_preprocessor: dict) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
        self.convs = nn.ModuleDict(
            {d: nn.Conv2d(3, 3, 1) for d in ('source', 'target')})
        for conv in self.convs.values():
            nn.init.eye_(conv.weight[..., 0, 0])
            nn.init.zeros_(conv.bias)

    @property
    def domains(self) -> Tuple[str, ...]:
        return ('source', 'target')

    @property
    def input_normalization(self) -> ImageNormalization:
        return get_generator_normalization(self.data_preprocessor)

    def translate(self, img: Tensor, target_domain: str) -> Tensor:
        return self.convs[target_domain](img)

    def direction_state(self, target_domain: str) -> Dict[str, Tensor]:
        return self.convs[target_domain].state_dict()

    def train_step(self, data: dict, optim_wrapper) -> Dict[str, Tensor]:
        wrapper = optim_wrapper['convs']
        with wrapper.optim_context(self):
            inputs = self.data_preprocessor(data, True)['inputs']
            src, tgt = inputs['img_source'], inputs['img_target']
            loss = F.mse_loss(
                self.translate(src, 'target').mean((0, 2, 3)),
                tgt.mean((0, 2, 3))) + F.mse_loss(
                    self.translate(tgt, 'source').mean((0, 2, 3)),
                    src.mean((0, 2, 3)))
        wrapper.update_params(loss)
        return dict(loss=loss.detach())

    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        return self.translate(inputs, 'target')


class NotATranslator(BaseModel):
    """Registered for the contract check: a model without the members."""

    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        return inputs


@MODELS.register_module()
class HalfTranslator(BaseModel, BaseTranslator):
    """Derives from the contract but defines only ``domains``."""

    @property
    def domains(self) -> Tuple[str, ...]:
        return ('source', 'target')

    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        return inputs


MODELS.register_module(module=NotATranslator)
