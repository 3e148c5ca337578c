"""Type aliases shared by mmbdl modules (as in mmseg.utils.typing_utils)."""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.config import ConfigDict

ConfigType = Union[ConfigDict, dict]
OptConfigType = Optional[ConfigType]
MultiConfig = Union[ConfigType, Sequence[ConfigType]]
OptMultiConfig = Optional[MultiConfig]
ForwardResults = Union[Dict[str, torch.Tensor], List, torch.Tensor]
