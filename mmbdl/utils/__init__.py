from .config_utils import load_config, run_cli
from .errors import (ConfigCheckError, ConfigTypeError, MissingFileError,
                     MMBDLUserError, RunStateError)
from .head_align_corners import head_align_corners
from .model_utils import get_inference_segmentor, get_translator, unwrap_model
from .set_env import register_all_modules
from .typing_utils import ConfigType, OptConfigType, OptMultiConfig
from .weights import register_checkpoint_safe_globals

__all__ = [
    'register_all_modules', 'register_checkpoint_safe_globals',
    'ConfigType', 'OptConfigType', 'OptMultiConfig',
    'get_inference_segmentor', 'get_translator', 'unwrap_model',
    'ConfigCheckError', 'ConfigTypeError', 'MissingFileError',
    'MMBDLUserError', 'RunStateError', 'load_config', 'run_cli',
    'head_align_corners'
]
