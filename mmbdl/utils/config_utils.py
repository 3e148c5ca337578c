"""Config loading and command-line error handling shared by ``tools/``."""
import os
import os.path as osp
import sys
from typing import Callable, Optional, Tuple

from mmengine.config import Config

from .config_names import unknown_type_error
from .errors import ConfigCheckError, MissingFileError, MMBDLUserError
from .patch_size_check import check_patch_sizes

__all__ = ['ConfigCheckError', 'load_config', 'run_cli', 'user_error_types']


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Load an mmbdl config, apply overrides and check its scope.

    Args:
        path (str): Path of the Python config file.
        cfg_options (dict, optional): ``--cfg-options`` overrides.
            Defaults to None.

    Returns:
        Config: The loaded config.

    Raises:
        MissingFileError: If ``path`` does not exist.
        ConfigCheckError: If the config's ``default_scope`` is not
            ``mmbdl``, or a crop is not a multiple of a DINOv2 backbone's
            patch size (:mod:`mmbdl.utils.patch_size_check`).
    """
    if not osp.isfile(path):
        raise MissingFileError(
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
    check_patch_sizes(cfg)
    return cfg


def user_error_types() -> Tuple[type, ...]:
    """The exception classes :func:`run_cli` prints as one line.

    Every deliberate user error derives from :class:`MMBDLUserError`
    (config, data, checkpoint and work-dir errors alike), so this is that
    one base.

    Returns:
        tuple[type, ...]: Exception classes.
    """
    return (MMBDLUserError, )


def run_cli(main: Callable[[], None]) -> None:
    """Run a tool's ``main`` and turn deliberate user errors into one line.

    Only :class:`~mmbdl.utils.errors.MMBDLUserError` (the base of every
    deliberate user error, raised with the fix in its message) and
    MMEngine's unknown-``type`` ``KeyError``
    (:func:`~mmbdl.utils.config_names.unknown_type_error`, with the close
    names) become ``error: <message>`` and exit status 2.
    Any other exception is a bug or an unexpected failure and
    propagates with its traceback. ``MMBDL_DEBUG=1`` shows the traceback of
    user errors too.

    Args:
        main (Callable): The tool's entry point.
    """
    if os.environ.get('MMBDL_DEBUG'):
        main()
        return
    try:
        main()
    except (*user_error_types(), KeyError) as err:
        if isinstance(err, KeyError) and not isinstance(err, MMBDLUserError):
            # MMEngine's unknown-type error becomes a user error; any other
            # KeyError is a bug and keeps its traceback
            err = unknown_type_error(err)
            if err is None:
                raise
        message = err.args[0] if err.args else type(err).__name__
        print(f'error: {message} (MMBDL_DEBUG=1 shows the traceback)',
              file=sys.stderr)
        sys.exit(2)
