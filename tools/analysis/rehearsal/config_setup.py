"""Turn a BDL config into its rehearsal: same models, hooks and sizes;
synthetic data roots, a few iterations per phase, K and N rounds."""
import ast
import copy
import os.path as osp
from typing import Any, Dict, List

from mmengine.config import Config

from mmbdl.engine.runner.phase_plan import PHASE_KINDS

PATH_KEYS = ('data_root', 'img_dir')


def default_work_dir(config: str) -> str:
    """``work_dirs/rehearsal_<config name>``: rehearse.py's folder when it
    is given no ``--work-dir``."""
    name = osp.splitext(osp.basename(config))[0]
    return osp.join('work_dirs', f'rehearsal_{name}')


def parse_options(options: List[str]) -> Dict[str, Any]:
    """``key=value`` strings as a dict (values parsed as Python literals)."""
    out = {}
    for option in options:
        key, _, value = option.partition('=')
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def source_dataset(cfg: Config) -> str:
    """'gta5' or 'synthia': the source data set the config trains on."""
    text = cfg.pretty_text.lower()
    found = [name for name in ('gta5', 'synthia') if f'data/{name}' in text]
    if len(found) != 1:
        raise ValueError(
            'cannot tell the source data set of this config (it should read '
            "'data/gta5' or 'data/synthia'); the rehearsal supports the BDL "
            'GTA5 and SYNTHIA configs')
    return found[0]


def _rebase(node: Any, root: str) -> Any:
    """Replace the ``data`` prefix of data roots / image dirs by ``root``."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in PATH_KEYS and isinstance(value, str) and (
                    value == 'data' or value.startswith('data/')):
                value = root + value[len('data'):]
            out[key] = _rebase(value, root)
        return out
    if isinstance(node, (list, tuple)):
        return type(node)(_rebase(v, root) for v in node)
    return node


def _set_workers(node: Any, workers: int) -> None:
    if isinstance(node, dict):
        if 'num_workers' in node:
            node['num_workers'] = workers
            if workers == 0:
                node['persistent_workers'] = False
        for value in node.values():
            _set_workers(value, workers)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _set_workers(value, workers)


def _drop_pretrained(node: Any) -> int:
    """Remove ``init_cfg=dict(type='Pretrained', ...)`` entries; count them."""
    count = 0
    if isinstance(node, dict):
        init = node.get('init_cfg')
        if isinstance(init, dict) and init.get('type') == 'Pretrained':
            node['init_cfg'] = None
            count += 1
        for value in node.values():
            count += _drop_pretrained(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += _drop_pretrained(value)
    return count


def rehearsal_config(cfg: Config, args, data_root: str,
                     work_dir: str) -> Config:
    """The config of the rehearsal run.

    Args:
        cfg (Config): The paper config.
        args: Parsed arguments (``iters``, ``rounds``, ``ssl_rounds``
            (ignored with ``train_cfg.plan``), ``workers``,
            ``allow_random_init``).
        data_root (str): Folder of the synthetic data sets.
        work_dir (str): Work dir of the run.

    Returns:
        Config: A new config; the input is not changed.
    """
    data = _rebase(copy.deepcopy(cfg.to_dict()), data_root)
    if args.workers is not None:
        _set_workers(data, args.workers)
    train_cfg = data['train_cfg']
    train_cfg['num_rounds'] = args.rounds
    if train_cfg.get('plan') is not None:
        # the config's own plan (its kinds; N and the source-only switch
        # do not apply)
        from .step_terms import config_kinds
        kinds = config_kinds(Config(data))
    else:
        train_cfg['num_ssl_rounds'] = args.ssl_rounds
        kinds = [k for k in PHASE_KINDS
                 if k != 'self_training' or args.ssl_rounds > 0]
        if not train_cfg.get('source_only', True):
            kinds.remove('source_only')
    train_cfg['phase_iters'] = {kind: args.iters for kind in kinds}
    if args.allow_random_init:
        # random backbones: no pretrained file is needed (the loop warns)
        train_cfg['allow_random_init'] = True
        _drop_pretrained(data)
    data['work_dir'] = work_dir
    data['resume'] = False
    hooks = data.setdefault('default_hooks', {})
    if 'logger' in hooks:
        hooks['logger']['interval'] = 1
    return Config(data)
