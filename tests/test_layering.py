"""The package layering, read from the code: no import points upwards.

Layers, lowest first: ``utils`` < ``models`` / ``datasets`` /
``evaluation`` < ``engine`` < ``apis`` < ``tools``. A module may import its
own layer and any lower one; the test parses every module's imports with
``ast`` (module-level and function-local ones alike) and fails on the first
import into a higher layer. One exemption, by name: the registration entry
``mmbdl/utils/set_env.py`` (``register_all_modules``) imports every package
to register its modules, as MMSegmentation's own ``register_all_modules``
does.

A registry is a layer's too: importing ``PHASE_KINDS`` (its modules live in
``mmbdl.engine.runner``) from a model reaches the loop as surely as an
import would, so a lower layer may not use a registry whose ``locations``
lie in a higher one (``test_no_registry_of_a_higher_layer``).
"""
import ast
import os
import os.path as osp
from typing import Iterator, List, Optional, Tuple

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
LAYERS = {
    'utils': 0,
    'models': 1,
    'datasets': 1,
    'evaluation': 1,
    'engine': 2,
    'apis': 3,
    'tools': 4,
}


# (file, imported module) pairs exempt from the rule, see the docstring
REGISTRATION_ENTRY = 'mmbdl/utils/set_env.py'
REGISTRATION_IMPORTS = ('mmbdl.datasets', 'mmbdl.engine', 'mmbdl.evaluation',
                        'mmbdl.models')


def module_name(path: str) -> str:
    """Dotted module name of a file below ``ROOT``."""
    rel = osp.splitext(osp.relpath(path, ROOT))[0].split(os.sep)
    if rel[-1] == '__init__':
        rel = rel[:-1]
    return '.'.join(rel)


def layer_of(module: str) -> Optional[str]:
    """The layer of a dotted module name (None outside the layers)."""
    parts = module.split('.')
    if parts[0] == 'tools':
        return 'tools'
    if parts[0] == 'mmbdl' and len(parts) > 1 and parts[1] in LAYERS:
        return parts[1]
    return None


def imported_modules(path: str) -> Iterator[Tuple[int, str]]:
    """``(line, dotted name)`` of every import in a file, relative ones
    resolved against the file's package."""
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), path)
    package = module_name(path).split('.')
    if not path.endswith('__init__.py'):
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                name = '.'.join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ''
            yield node.lineno, name
            for alias in node.names:  # `from mmbdl import engine`
                yield node.lineno, f'{name}.{alias.name}'


def python_files() -> Iterator[str]:
    for top in ('mmbdl', 'tools'):
        for root, dirs, files in os.walk(osp.join(ROOT, top)):
            dirs.sort()
            for name in sorted(files):
                if name.endswith('.py'):
                    yield osp.join(root, name)


def layered_imports(files) -> Iterator[Tuple[str, str, int, str]]:
    """``(path, layer, line, imported name)`` of every import in the files
    that belong to a layer (paths relative to ``ROOT``)."""
    for path in files:
        own = layer_of(module_name(path))
        if own is None:
            continue
        rel = osp.relpath(path, ROOT).replace(os.sep, '/')
        for line, name in imported_modules(path):
            yield rel, own, line, name


def layering_violations(files) -> List[str]:
    """Every upward import in ``files``, as ``path:line: a -> b``."""
    found = []
    for rel, own, line, name in layered_imports(files):
        if rel == REGISTRATION_ENTRY and name in REGISTRATION_IMPORTS:
            continue
        other = layer_of(name)
        if other is not None and LAYERS[other] > LAYERS[own]:
            found.append(f'{rel}:{line}: {own} imports {name} ({other})')
    return found


def test_no_import_from_a_lower_layer_into_a_higher_one():
    files = list(python_files())
    assert len(files) > 100  # the walk really saw the package
    violations = layering_violations(files)
    assert not violations, 'upward imports:\n' + '\n'.join(violations)


def registry_layers(path: str) -> dict:
    """``{registry name: layer}`` of ``mmbdl/registry.py``: the layer of
    the first mmbdl module in each ``Registry(..., locations=...)``."""
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), path)
    layers = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Call)
                and getattr(node.value.func, 'id', None) == 'Registry'):
            continue
        located = [
            n.value for n in ast.walk(node.value)
            if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and layer_of(n.value) is not None
        ]
        if located:
            for target in node.targets:
                layers[target.id] = layer_of(located[0])
    return layers


def registry_violations(files, layers: dict) -> List[str]:
    """Every use of a registry of a higher layer, as ``path:line: ...``.
    """
    found = []
    for rel, own, line, name in layered_imports(files):
        if not name.startswith('mmbdl.registry.'):
            continue
        registry = name.rsplit('.', 1)[1]
        other = layers.get(registry)
        if other is not None and LAYERS[other] > LAYERS[own]:
            found.append(f'{rel}:{line}: {own} uses {registry} ({other})')
    return found


def test_no_registry_of_a_higher_layer():
    layers = registry_layers(osp.join(ROOT, 'mmbdl', 'registry.py'))
    # the parse really found them
    assert layers['PHASE_KINDS'] == 'engine'
    assert layers['LOSS_TERMS'] == 'models'
    violations = registry_violations(python_files(), layers)
    assert not violations, ('registries of a higher layer:\n'
                            + '\n'.join(violations))


def test_the_registry_check_catches_a_model_reaching_the_loop(
        tmp_path, monkeypatch):
    pkg = tmp_path / 'mmbdl' / 'models'
    pkg.mkdir(parents=True)
    bad = pkg / 'bad.py'
    bad.write_text('from mmbdl.registry import MODELS, PHASE_KINDS\n')
    monkeypatch.setitem(globals(), 'ROOT', str(tmp_path))
    found = registry_violations(
        [str(bad)], dict(MODELS='models', PHASE_KINDS='engine'))
    assert found == [
        'mmbdl/models/bad.py:1: models uses PHASE_KINDS (engine)']


def test_the_check_catches_an_upward_import(tmp_path, monkeypatch):
    """The scanner itself: a utils module importing models (directly, by a
    relative name or inside a function) is reported; a downward import is
    not."""
    pkg = tmp_path / 'mmbdl' / 'utils'
    pkg.mkdir(parents=True)
    bad = pkg / 'bad.py'
    bad.write_text('import os\n'
                   'from ..models.utils import thing\n'
                   'def f():\n'
                   '    from mmbdl.engine import hooks\n')
    eng = tmp_path / 'mmbdl' / 'engine'
    eng.mkdir()
    good = eng / 'good.py'
    good.write_text('from mmbdl.utils import x\nfrom ..models import y\n')
    monkeypatch.setitem(globals(), 'ROOT', str(tmp_path))
    found = layering_violations([str(bad), str(good)])
    assert found == [
        'mmbdl/utils/bad.py:2: utils imports mmbdl.models.utils (models)',
        'mmbdl/utils/bad.py:2: utils imports mmbdl.models.utils.thing '
        '(models)',
        'mmbdl/utils/bad.py:4: utils imports mmbdl.engine (engine)',
        'mmbdl/utils/bad.py:4: utils imports mmbdl.engine.hooks (engine)',
    ]
