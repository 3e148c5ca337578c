"""Checks that the installed OpenMMLab stack is one mmbdl supports.

Two stacks are supported (``requirements/README.md``): ``pinned`` (Python
3.11, torch 2.x below 2.10, numpy 1) and ``current`` (Python 3.12, torch
2.10 or newer, numpy 2), both with the OpenMMLab packages of
:data:`SUPPORTED`. Python, torch and numpy must all fall in one stack's
ranges; a mix of the two (numpy 2 under torch 2.9, say) was never tested
and is refused with one line naming both stacks' ranges.
"""
import sys
from importlib import metadata
from typing import Dict, Tuple

from packaging.version import parse

# package -> (min inclusive, max exclusive, pip spec to suggest); the same
# on both stacks
SUPPORTED: Dict[str, Tuple[str, str, str]] = {
    'torch': ('2.0.0', '3.0.0', 'torch>=2.0,<3'),
    'mmengine': ('0.10.0', '0.11.0', 'mmengine==0.10.7'),
    'mmcv': ('2.0.0rc4', '2.2.0', 'mmcv==2.1.0 (built with its ops)'),
    'mmsegmentation': ('1.2.0', '1.3.0', 'mmsegmentation==1.2.2'),
    'mmagic': ('1.2.0', '1.3.0', 'mmagic==1.2.0 --no-deps'),
}

# stack -> {python / torch / numpy: (min inclusive, max exclusive)}
STACKS: Dict[str, Dict[str, Tuple[str, str]]] = {
    'pinned': {'python': ('3.11', '3.12'), 'torch': ('2.0.0', '2.10.0'),
               'numpy': ('1.23.0', '2.0.0')},
    'current': {'python': ('3.12', '3.13'), 'torch': ('2.10.0', '3.0.0'),
                'numpy': ('2.0.0', '3.0.0')},
}


def _installed_version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return ''


def _python_version() -> str:
    return '.'.join(str(part) for part in sys.version_info[:3])


def _release(version: str):
    # '2.11.0+cu130' and '2.12.0.dev1' compare by their release numbers
    return parse(version).release


def _stack_ranges(stack: str) -> str:
    return ', '.join(f'{name} >={low},<{high}'
                     for name, (low, high) in STACKS[stack].items())


def matching_stack(found: Dict[str, str]) -> str:
    """Name the stack whose ranges hold every version in ``found``.

    Args:
        found (dict[str, str]): Installed versions of ``python``, ``torch``
            and ``numpy``.

    Returns:
        str: ``'pinned'`` or ``'current'``, or ``''`` when none matches.
    """
    for stack, ranges in STACKS.items():
        if all(
                found.get(name) and _release(low) <= _release(found[name]) <
                _release(high) for name, (low, high) in ranges.items()):
            return stack
    return ''


def check_dependencies() -> None:
    """Raise a clear error when a dependency is missing or out of range.

    Mirrors the version assertions of ``mmseg/__init__.py``, but names every
    offending package at once and says what to install; then checks that
    Python, torch and numpy form one of :data:`STACKS`.

    Raises:
        ImportError: listing each missing or unsupported package, or naming
            both stacks' ranges when the environment mixes them.
    """
    problems = []
    for package, (low, high, spec) in SUPPORTED.items():
        found = _installed_version(package)
        if not found:
            problems.append(f'{package} is not installed; install {spec}')
        elif not parse(low) <= parse(found) < parse(high):
            problems.append(f'{package}=={found} is not supported '
                            f'(need >={low}, <{high}); install {spec}')
    if problems:
        raise ImportError(
            'mmbdl cannot start: ' + '; '.join(problems) +
            '. `make env` (scripts/setup_env.sh) installs the tested stack.')
    found = dict(python=_python_version(),
                 torch=_installed_version('torch'),
                 numpy=_installed_version('numpy'))
    if not matching_stack(found):
        have = ', '.join(f'{name} {version or "missing"}'
                         for name, version in found.items())
        raise ImportError(
            f'mmbdl cannot start: {have} is no supported stack; supported: '
            f'pinned ({_stack_ranges("pinned")}) or current '
            f'({_stack_ranges("current")}). `make env` installs pinned, '
            '`make env STACK=current` current.')
