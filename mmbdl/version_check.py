"""Checks that the installed OpenMMLab stack is one mmbdl supports."""
from importlib import metadata
from typing import Dict, Tuple

from packaging.version import parse

# package -> (min inclusive, max exclusive, pip spec to suggest)
SUPPORTED: Dict[str, Tuple[str, str, str]] = {
    'torch': ('2.0.0', '3.0.0', 'torch>=2.0,<3'),
    'mmengine': ('0.10.0', '0.11.0', 'mmengine==0.10.7'),
    'mmcv': ('2.0.0rc4', '2.2.0', 'mmcv==2.1.0 (built with its ops)'),
    'mmsegmentation': ('1.2.0', '1.3.0', 'mmsegmentation==1.2.2'),
    'mmagic': ('1.2.0', '1.3.0', 'mmagic==1.2.0 --no-deps'),
}


def _installed_version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return ''


def check_dependencies() -> None:
    """Raise a clear error when a dependency is missing or out of range.

    Mirrors the version assertions of ``mmseg/__init__.py``, but names every
    offending package at once and says what to install.

    Raises:
        ImportError: listing each missing or unsupported package.
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
