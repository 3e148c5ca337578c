"""Config adjustments shared by ``tools/train.py`` and ``tools/test.py``."""
import datetime
import os.path as osp
from typing import Optional, Tuple

import torch
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log

from .errors import ConfigCheckError


def set_work_dir(cfg: Config, config_path: str,
                 work_dir: Optional[str]) -> None:
    """Use ``work_dir`` if given, else the config's, else ``work_dirs/<name>``.

    Args:
        cfg (Config): The config to update in place.
        config_path (str): Path of the config file (names the default dir).
        work_dir (str, optional): The ``--work-dir`` argument.
    """
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config_path))[0])


AMP_DTYPES = ('float16', 'bfloat16')


def _amp_wrapper(wrapper: dict, dtype: Optional[str]) -> None:
    """Turn one optim wrapper config into an ``AmpOptimWrapper`` config."""
    wrapper_type = wrapper.get('type', 'OptimWrapper')
    if wrapper_type not in ('AmpOptimWrapper', 'mmengine.AmpOptimWrapper'):
        if wrapper_type not in ('OptimWrapper', 'mmengine.OptimWrapper'):
            raise ConfigCheckError(
                f'--amp supports OptimWrapper configs, but found '
                f'{wrapper_type}; set the AMP wrapper in the config instead')
        wrapper['type'] = 'AmpOptimWrapper'
        wrapper.setdefault('loss_scale', 'dynamic')
    if dtype is not None:
        wrapper['dtype'] = dtype


def amp_dtype_of(cfg: Config, dtype: Optional[str] = None) -> Optional[str]:
    """The autocast dtype asked for by ``--amp-dtype`` or ``cfg.amp_dtype``.

    Args:
        cfg (Config): The config (its optional top-level ``amp_dtype``).
        dtype (str, optional): The command line's choice, which wins.

    Returns:
        str | None: ``'float16'``, ``'bfloat16'`` or None (MMEngine's
        default: float16 on CUDA).

    Raises:
        ConfigCheckError: For another value.
    """
    dtype = dtype if dtype is not None else cfg.get('amp_dtype', None)
    if dtype is not None and dtype not in AMP_DTYPES:
        raise ConfigCheckError(
            f'amp_dtype={dtype!r} is not supported; use one of {AMP_DTYPES} '
            '(float16: MMEngine\'s default, with dynamic loss scaling; '
            'bfloat16: float32 range, no scaling needed)')
    return dtype


def enable_amp(cfg: Config, dtype: Optional[str] = None) -> None:
    """Switch every optim wrapper of the config to mixed precision.

    Handles a single ``optim_wrapper`` and a multi-optimizer config whose
    values are optim wrapper configs (keyed by sub-module), also nested one
    level deeper by phase (``{'segmentation': {'segmentor': {...}}}``).

    Every wrapper becomes an ``AmpOptimWrapper`` with dynamic loss scaling
    (its loss-scaler state is part of the optimizer state that checkpoints
    hold) and autocasts to ``dtype``: float16 by default (MMEngine's), or
    bfloat16 through ``--amp-dtype bfloat16`` / ``amp_dtype = 'bfloat16'``
    in the config; every phase's wrappers get the same dtype.

    Args:
        cfg (Config): The config to update in place.
        dtype (str, optional): ``'float16'`` or ``'bfloat16'``; None reads
            ``cfg.amp_dtype`` (default None: float16). Defaults to None.

    Raises:
        ConfigCheckError: On a machine without a CUDA GPU (MMEngine's
            ``AmpOptimWrapper`` needs one), or for an unknown dtype.
    """
    dtype = amp_dtype_of(cfg, dtype)
    if not torch.cuda.is_available():
        raise ConfigCheckError(
            '--amp needs a CUDA GPU (mixed precision with loss scaling); '
            'none is visible here: run without --amp')

    def visit(node) -> bool:
        if not isinstance(node, (dict, ConfigDict)):
            return False
        if 'optimizer' in node:
            _amp_wrapper(node, dtype)
            return True
        found = False
        for value in node.values():
            found = visit(value) or found
        return found

    wrappers = [cfg.get('optim_wrapper')]
    # Loops with per-phase optimizers keep them under train_cfg.
    wrappers.append(cfg.get('train_cfg', {}).get('optim_wrappers'))
    if not any(visit(w) for w in wrappers if w is not None):
        raise ConfigCheckError('--amp was given but the config defines no '
                               'optim_wrapper with an optimizer')
    print_log(f'AMP enabled for every optimizer wrapper ({dtype or "float16"} '
              'autocast, dynamic loss scaling)', logger='current')


def check_amp_request(cfg: Config, amp: bool,
                      dtype: Optional[str] = None) -> None:
    """Refuse an AMP dtype that would do nothing (AMP off).

    Args:
        cfg (Config): The config (``amp_dtype``).
        amp (bool): Whether ``--amp`` was given.
        dtype (str, optional): ``--amp-dtype``.

    Raises:
        ConfigCheckError: ``--amp-dtype`` or ``amp_dtype`` without ``--amp``.
    """
    if amp:
        return
    asked = dtype if dtype is not None else cfg.get('amp_dtype', None)
    if asked is not None:
        source = '--amp-dtype' if dtype is not None else \
            "the config's amp_dtype"
        raise ConfigCheckError(
            f'{source} is {asked!r} but AMP is off: add --amp (or remove '
            f'{source})')


def prepare_distributed(cfg: Config) -> None:
    """Make a distributed launch work on machines without GPUs.

    MMEngine's ``init_dist`` calls ``torch.cuda.set_device`` and its default
    DDP wrapper passes the local rank as a CUDA device id, both of which fail
    on a CPU-only machine. There the process group is created here with gloo
    (before the Runner, which then skips its own initialisation) and DDP is
    built without ``device_ids``. With GPUs nothing changes.

    Args:
        cfg (Config): The config to update in place.

    Raises:
        ValueError: For a non-torchrun launcher on a machine without GPUs.
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or torch.cuda.is_available():
        return
    if launcher != 'pytorch':
        raise ConfigCheckError(
            f'--launcher {launcher} needs GPUs; on CPU-only machines launch '
            'with tools/dist_train.sh (torchrun, --launcher pytorch)')
    cfg.setdefault('env_cfg', ConfigDict())
    cfg.env_cfg.setdefault('dist_cfg', ConfigDict())
    cfg.env_cfg.dist_cfg.backend = 'gloo'
    if not torch.distributed.is_initialized():
        dist_cfg = dict(cfg.env_cfg.dist_cfg)
        timeout = dist_cfg.pop('timeout', None)
        kwargs = {}
        if timeout is not None:
            kwargs['timeout'] = datetime.timedelta(seconds=timeout)
        torch.distributed.init_process_group(backend='gloo', **kwargs)
    wrapper = cfg.get('model_wrapper_cfg') or ConfigDict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper.setdefault('device_ids', None)
    cfg.model_wrapper_cfg = wrapper


def setup_tool(config: str, cfg_options: Optional[dict], launcher: str,
               device: Optional[str] = None) -> Tuple[Config, int, str]:
    """Load a config and set up the process for a standalone tool.

    Shared by ``tools/pseudo_label.py`` and ``tools/translate.py``, which
    run a model outside a Runner: registers the modules, loads and checks
    the config, joins the process group for a distributed launch (gloo on
    CPU-only machines, NCCL otherwise) and picks the device.

    Args:
        config (str): Path of the config file.
        cfg_options (dict, optional): ``--cfg-options`` overrides.
        launcher (str): ``'none'`` or a distributed launcher.
        device (str, optional): Device to run on; the current CUDA device
            when available, else ``'cpu'``. Defaults to None.

    Returns:
        tuple: The config, this process's rank and the device.
    """
    from mmengine.dist import get_dist_info, init_dist

    from .config_utils import load_config
    from .set_env import register_all_modules

    register_all_modules(init_default_scope=True)
    cfg = load_config(config, cfg_options)
    cfg.launcher = launcher
    prepare_distributed(cfg)  # gloo process group on CPU-only machines
    if launcher != 'none' and not torch.distributed.is_initialized():
        init_dist(launcher, backend='nccl')
    rank, _ = get_dist_info()
    if device is None:
        device = (f'cuda:{torch.cuda.current_device()}'
                  if torch.cuda.is_available() else 'cpu')
    return cfg, rank, device
