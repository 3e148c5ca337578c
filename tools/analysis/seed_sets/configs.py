"""The configs of a seed set: what may differ between its runs, and the
check that a seed folder holds a run of the requested config."""
import argparse
import os.path as osp
from typing import Dict, List, Optional, Sequence

from mmbdl.utils.errors import ConfigCheckError, RunStateError

# config keys that may differ between the runs of one seed set
SEED_KEYS = ('randomness.seed', 'work_dir', 'launcher', 'resume', 'load_from')


def default_work_dir(config: str, suffix: str) -> str:
    """``work_dirs/<config name><suffix>``, a tool's folder when it is given
    no ``--work-dir`` (``_seeds``: multi_seed.py, ``_ablation``:
    ablation.py)."""
    return osp.join('work_dirs',
                    osp.splitext(osp.basename(config))[0] + suffix)


def flatten(value, prefix: str = '') -> Dict[str, object]:
    """Flatten nested dicts (and lists) into ``{'a.b.0.c': leaf}``.

    Args:
        value: A config value.
        prefix (str): Key prefix. Defaults to ''.

    Returns:
        dict: Dotted key -> leaf value.
    """
    out = {}
    if isinstance(value, dict):
        if not value and prefix:
            out[prefix] = {}
        for key, sub in value.items():
            out.update(flatten(sub, f'{prefix}.{key}' if prefix else key))
    elif isinstance(value, (list, tuple)):
        if not value and prefix:
            out[prefix] = []
        for index, sub in enumerate(value):
            out.update(flatten(sub, f'{prefix}.{index}'))
    else:
        out[prefix] = value
    return out


def config_diff(a: dict, b: dict,
                ignore: Sequence[str] = SEED_KEYS) -> List[str]:
    """Dotted keys whose values differ between two config dicts.

    Args:
        a (dict): One config (``Config.to_dict()``).
        b (dict): The other.
        ignore (Sequence[str]): Keys (and their sub-keys) not compared.
            Defaults to :data:`SEED_KEYS`.

    Returns:
        list[str]: Sorted differing keys (present in one only, or unequal).
    """
    fa, fb = flatten(a), flatten(b)

    def ignored(key):
        return any(key == k or key.startswith(k + '.') for k in ignore)

    keys = (set(fa) | set(fb))
    return sorted(k for k in keys if not ignored(k) and (
        k not in fa or k not in fb or fa[k] != fb[k]))


def describe_diff(diff: Sequence[str], wanted: dict, found: dict,
                  shown: int = 8) -> str:
    """``key (requested A, run B), ...`` for the first ``shown`` keys."""
    fw, ff = flatten(wanted), flatten(found)

    def value(flat, key):
        return repr(flat[key]) if key in flat else 'unset'

    text = ', '.join(f'{k} (requested {value(fw, k)}, run {value(ff, k)})'
                     for k in diff[:shown])
    return text + (' ...' if len(diff) > shown else '')


def parse_options(cfg_options: Sequence[str]) -> dict:
    """``['a.b=1', ...]`` -> ``{'a.b': 1, ...}`` as ``--cfg-options``."""
    if not cfg_options:
        return {}
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction)
    return parser.parse_args(['--o'] + list(cfg_options)).o


def load_run_config(config: str, seed: int,
                    cfg_options: Optional[dict]) -> dict:
    """The config of one seed's run as a plain dict."""
    from mmbdl.utils import load_config
    options = dict(cfg_options or {})
    options['randomness.seed'] = seed
    return load_config(config, options).to_dict()


def dumped_config(seed_dir: str, config: str) -> Optional[dict]:
    """The config a seed's run wrote into its work dir, if any."""
    path = osp.join(seed_dir, osp.basename(config))
    if not osp.isfile(path):
        return None
    from mmengine.config import Config
    return Config.fromfile(path).to_dict()


def check_seed_dir(wanted: dict, directory: str, seed: int, config: str,
                   required: bool = False) -> None:
    """Refuse a seed folder that holds a run of another config.

    The run's dumped config is compared with the requested config and
    options (:data:`SEED_KEYS` aside), as before a seed is trained and
    before its table is merged.

    Args:
        wanted (dict): The requested config of this seed
            (:func:`load_run_config`).
        directory (str): The seed's folder.
        seed (int): The seed.
        config (str): The config path (its file name is the dump's).
        required (bool): Refuse a folder without the dumped config (a
            finished run always has it). Defaults to False.

    Raises:
        ConfigCheckError: Naming the differing keys with both values.
        RunStateError: If ``required`` and the dump is missing.
    """
    previous = dumped_config(directory, config)
    if previous is None:
        if required:
            raise RunStateError(
                f'{directory} holds no {osp.basename(config)} (the config '
                'tools/train.py writes into the work dir), so its run '
                'cannot be checked against the requested config; run that '
                'seed again or delete its dir')
        return
    diff = config_diff(wanted, previous)
    if diff:
        keys = describe_diff(diff, wanted, previous)
        raise ConfigCheckError(
            f'{directory} holds a run of seed {seed} with another config '
            f'({len(diff)} keys differ: {keys}); use another --work-dir, the '
            'options of that run, or delete that seed dir')


def check_same_configs(configs: Dict[int, dict]) -> None:
    """Refuse a seed set whose configs differ other than in the seed.

    Args:
        configs (dict[int, dict]): Config per seed.

    Raises:
        ConfigCheckError: Naming the seeds and the differing keys.
    """
    seeds = sorted(configs)
    for seed in seeds[1:]:
        diff = config_diff(configs[seeds[0]], configs[seed])
        if diff:
            shown = ', '.join(diff[:8]) + (' ...' if len(diff) > 8 else '')
            raise ConfigCheckError(
                f'the runs of seed {seeds[0]} and seed {seed} have different '
                f'configs ({len(diff)} keys differ: {shown}); a seed set must '
                'differ in the seed only: use another --work-dir for the new '
                'settings, or delete the seed dirs that were run with the '
                'old ones')


def segmentation_phases(cfg: dict) -> List[str]:
    """Names of the segmentation phases a config plans, in order."""
    from mmbdl.engine.runner import plan_phases
    from mmbdl.engine.runner.phase_plan import (normalise_plan, plan_from,
                                                plan_kinds)
    train_cfg = cfg.get('train_cfg') or {}
    num_rounds = int(train_cfg.get('num_rounds', 2))
    if train_cfg.get('plan'):  # the config's own plan (e.g. VFM-UDA's)
        plan = normalise_plan(dict(train_cfg['plan']))
        phases = plan_from(num_rounds, plan,
                           {k: 1 for k in plan_kinds(plan)})
    else:
        kinds = ('source_only', 'translation', 'adaptation',
                 'self_training')
        phases = plan_phases(
            num_rounds, int(train_cfg.get('num_ssl_rounds', 2)),
            bool(train_cfg.get('source_only', True)), {k: 1 for k in kinds})
    return [p.name for p in phases if p.is_segmentation]
