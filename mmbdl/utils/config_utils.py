"""Config loading and command-line error handling shared by ``tools/``."""
import os
import os.path as osp
import pickle
import sys
from typing import Callable, Optional

from mmengine.config import Config


class ConfigCheckError(ValueError):
    """A config that cannot be used by mmbdl, with the fix in the message."""


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Load an mmbdl config, apply overrides and check its scope.

    Args:
        path (str): Path of the Python config file.
        cfg_options (dict, optional): ``--cfg-options`` overrides.
            Defaults to None.

    Returns:
        Config: The loaded config.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ConfigCheckError: If the config's ``default_scope`` is not ``mmbdl``.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'config file {path} does not exist; pass the path of a config '
            'under configs/, e.g. configs/bdl/bdl_demo.py')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    scope = cfg.get('default_scope')
    if scope != 'mmbdl':
        raise ConfigCheckError(
            f'{path}: default_scope is {scope!r}, but mmbdl configs must '
            "use default_scope = 'mmbdl' (inherit "
            'configs/_base_/default_runtime.py or set it in the config)')
    return cfg


# Exceptions whose message is the whole story for a command-line user.
USER_ERRORS = (FileNotFoundError, NotADirectoryError, ValueError, KeyError,
               ImportError, pickle.UnpicklingError)


def run_cli(main: Callable[[], None]) -> None:
    """Run a tool's ``main`` and turn user errors into one clear line.

    Set ``MMBDL_DEBUG=1`` to see the full traceback instead.

    Args:
        main (Callable): The tool's entry point.
    """
    if os.environ.get('MMBDL_DEBUG'):
        main()
        return
    try:
        main()
    except USER_ERRORS as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args \
            else str(err)
        print(f'error: {message} (MMBDL_DEBUG=1 shows the traceback)',
              file=sys.stderr)
        sys.exit(2)
