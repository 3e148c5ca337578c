"""Unknown names in a config, with the closest valid ones.

Two user errors that MMEngine reports as exceptions with tracebacks become
:class:`~mmbdl.utils.errors.ConfigCheckError` here:

- an unknown ``type`` (MMEngine's ``KeyError: 'X is not in the
  mmbdl::model registry ...'``), with the registry's close names;
- an unknown top-level key of a loop config (``train_cfg.num_round=1``,
  MMEngine's ``TypeError ... unexpected keyword argument``), with the
  closest argument of the loop class.
"""
import difflib
import inspect
import re
from typing import Iterable, List, Optional

from .errors import ConfigCheckError

__all__ = ['close_names', 'unknown_type_error', 'check_loop_keys']

_NOT_IN_REGISTRY = re.compile(
    r'(\S+) is not in the (?:(\w+)::)?([\w ]+?) registry')


def close_names(name: str, choices: Iterable[str], n: int = 3) -> List[str]:
    """The ``n`` names of ``choices`` closest to ``name`` (difflib)."""
    choices = sorted(set(choices))
    lowered = {c.lower(): c for c in choices}
    found = difflib.get_close_matches(name.lower(), list(lowered), n=n,
                                      cutoff=0.6)
    return [lowered[f] for f in found]


def _registry_names(registry_name: str, scope: Optional[str]) -> List[str]:
    """All names a registry of that name resolves (with its parents)."""
    from mmengine import registry as mm_registry

    import mmbdl.registry as mmbdl_registry
    names = set()
    for module in (mmbdl_registry, mm_registry):
        for obj in vars(module).values():
            if not isinstance(obj, mm_registry.Registry) or \
                    obj.name != registry_name:
                continue
            node = obj
            while node is not None:
                names.update(node.module_dict)
                for child in node.children.values():
                    names.update(child.module_dict)
                node = node.parent
    return sorted(names)


def unknown_type_error(err: BaseException) -> Optional[ConfigCheckError]:
    """The one-line error for MMEngine's unknown-``type`` ``KeyError``.

    Args:
        err (BaseException): An exception raised while building.

    Returns:
        ConfigCheckError | None: The user error, or None where ``err`` is
        not MMEngine's unknown-type error.
    """
    if not isinstance(err, KeyError):
        return None
    text = str(err.args[0]) if err.args else ''
    match = _NOT_IN_REGISTRY.search(text)
    if match is None:
        return None
    name, scope, registry = match.groups()
    name = name.strip('`\'"')
    near = close_names(name, _registry_names(registry, scope))
    hint = (f'did you mean {", ".join(near)}?' if near else
            'no registered name is close')
    return ConfigCheckError(
        f"type '{name}' is not in the {registry} registry ({hint}); fix "
        "the config's type, or import the module that registers it "
        '(custom_imports)')


def check_loop_keys(loop_cfg: dict, loop_cls: type,
                    where: str = 'train_cfg') -> None:
    """Refuse keys of a loop config that the loop class does not take.

    Args:
        loop_cfg (dict): The loop config (``type`` and arguments).
        loop_cls (type): The loop class.
        where (str): Config key, for the message. Defaults to 'train_cfg'.

    Raises:
        ConfigCheckError: Naming the unknown key and the closest valid one.
    """
    params = inspect.signature(loop_cls.__init__).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    valid = [k for k in params if k not in ('self', 'runner', 'dataloader')]
    unknown = sorted(k for k in loop_cfg if k != 'type' and k not in valid)
    if not unknown:
        return
    parts = []
    for key in unknown:
        near = close_names(key, valid, n=1)
        parts.append(f'{where}.{key}' +
                     (f' (did you mean {where}.{near[0]}?)' if near else ''))
    raise ConfigCheckError(
        f'unknown key{"s" if len(parts) > 1 else ""} {", ".join(parts)} '
        f'for {loop_cls.__name__}; valid keys: {", ".join(sorted(valid))}')
