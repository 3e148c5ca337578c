"""Every file under configs/ loads, names registered types and builds.

A config that defines ``model`` has it built at full size (the release's
models build in about a second each on the CPU, so no shrinking is needed).
Every ``type`` name anywhere in a config (datasets, transforms, hooks,
loops, optimizers, ...) must resolve in the mmbdl registries or their
parents. No file is excluded.
"""
import glob
import os.path as osp

import pytest
from mmengine.config import Config, ConfigDict

from mmbdl import registry as R

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    osp.relpath(p, REPO)
    for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                       recursive=True))
REGISTRIES = [
    getattr(R, name) for name in dir(R) if name.isupper()
    and hasattr(getattr(R, name), 'get')
]


def iter_types(node, path='cfg'):
    """Yield (path, type name) for every string ``type`` in a config."""
    if isinstance(node, (dict, ConfigDict)):
        if isinstance(node.get('type'), str):
            yield path, node['type']
        for key, value in node.items():
            yield from iter_types(value, f'{path}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from iter_types(value, f'{path}[{i}]')


def resolves(type_name: str) -> bool:
    for registry in REGISTRIES:
        try:
            if registry.get(type_name) is not None:
                return True
        except Exception:  # noqa: BLE001 - a lookup miss in that registry
            continue
    return False


def test_there_are_configs():
    assert any(p.startswith(osp.join('configs', 'bdl')) for p in CONFIGS)
    assert osp.join('configs', '_base_', 'default_runtime.py') in CONFIGS


@pytest.mark.parametrize('path', CONFIGS)
def test_config_loads_and_builds(path):
    cfg = Config.fromfile(osp.join(REPO, path))
    assert cfg.get('default_scope', 'mmbdl') == 'mmbdl', path
    unknown = [f'{where}={name}' for where, name in iter_types(cfg._cfg_dict)
               if not resolves(name)]
    assert not unknown, f'{path}: unregistered types {unknown}'
    if 'model' in cfg and isinstance(cfg.model, (dict, ConfigDict)) and \
            'type' in cfg.model:
        model = R.MODELS.build(cfg.model)
        assert sum(p.numel() for p in model.parameters()) > 0, path

