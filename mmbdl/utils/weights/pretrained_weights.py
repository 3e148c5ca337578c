"""Pretrained weights: where they are found and the ``bdl://`` scheme.

``init_cfg=dict(type='Pretrained', checkpoint='bdl://<source>',
prefix='backbone.')`` loads the weights the BDL release trains from, with
the release's key layout converted in memory
(:mod:`mmbdl.utils.weights.release_state_dict`), so no manual conversion step
is needed. ``<source>`` is one of :data:`KNOWN_WEIGHTS` or the path (or URL)
of a file in one of the release layouts (e.g. the release's per-data-set
VGG-16 "initial weights").

A known source's file is looked for, in this order, before any download:

1. ``$MMBDL_CHECKPOINTS/<file name>`` (if the variable is set),
2. ``checkpoints/<file name>`` in the working directory,
3. the torch hub cache ``$TORCH_HOME/hub/checkpoints/<file name>``
   (``torch.hub.get_dir()``; default ``~/.cache/torch/hub/checkpoints``),
4. MMEngine's download cache ``$TORCH_HOME/checkpoints/<file name>``.

If none has it, it is downloaded into the torch hub cache (atomically);
``MMBDL_OFFLINE=1`` skips the download. A missing file that cannot be
downloaded raises ``MissingFileError`` (a ``FileNotFoundError``) with one
line naming the URL, the
folders searched and where to put the file. Checksums are not checked: the
hash-like suffixes of the file names were not verified against the files.
"""
import os
import os.path as osp
import urllib.request
from typing import Dict, List, Optional

import torch

from ..atomic_write import DiskFullError, atomic_open
from ..errors import ConfigCheckError, MissingFileError

SCHEME = 'bdl://'

# name -> (URL, file name, key layout). The DeepLab file is the AdaptSegNet
# initialisation that the BDL release's DeepLab-v2 trains from (its original
# location); the VGG-16 file is torchvision's ImageNet model.
KNOWN_WEIGHTS: Dict[str, Dict[str, str]] = {
    'deeplabv2-resnet101-imagenet': dict(
        url='http://vllab.ucmerced.edu/ytsai/CVPR18/'
        'DeepLab_resnet_pretrained_init-f81d91e8.pth',
        filename='DeepLab_resnet_pretrained_init-f81d91e8.pth',
        arch='deeplabv2-init'),
    'vgg16-imagenet': dict(
        url='https://download.pytorch.org/models/vgg16-397923af.pth',
        filename='vgg16-397923af.pth',
        arch='torchvision-vgg16'),
}
# the official DINOv2 backbones (facebookresearch/dinov2), with and without
# the 4 register tokens
for _size in ('s', 'b', 'l'):
    for _reg in ('', '_reg4'):
        _file = f'dinov2_vit{_size}14{_reg}_pretrain.pth'
        KNOWN_WEIGHTS[f'dinov2-vit{_size}14{_reg.replace("_", "-")}'] = dict(
            url=f'https://dl.fbaipublicfiles.com/dinov2/dinov2_vit{_size}14/'
            f'{_file}',
            filename=_file,
            arch='dinov2')


def search_dirs() -> List[str]:
    """Folders searched for weight files, in order.

    Returns:
        list[str]: Absolute folder paths.
    """
    dirs = []
    env = os.environ.get('MMBDL_CHECKPOINTS')
    if env:
        dirs.append(osp.abspath(osp.expanduser(env)))
    dirs.append(osp.abspath('checkpoints'))
    dirs.append(osp.join(torch.hub.get_dir(), 'checkpoints'))
    torch_home = osp.dirname(torch.hub.get_dir())
    dirs.append(osp.join(torch_home, 'checkpoints'))
    out = []
    for d in dirs:
        if d not in out:
            out.append(d)
    return out


def find_weights(filename: str) -> Optional[str]:
    """The first existing ``<folder>/<filename>`` of :func:`search_dirs`.

    Args:
        filename (str): File name.

    Returns:
        str | None: Its path, or None.
    """
    for folder in search_dirs():
        path = osp.join(folder, filename)
        if osp.isfile(path):
            return path
    return None


def download(url: str, filename: str, timeout: float = 30.0) -> str:
    """Download ``url`` into the torch hub cache, atomically.

    Args:
        url (str): Where the file lives.
        filename (str): Its name in the cache.
        timeout (float): Socket timeout in seconds. Defaults to 30.

    Returns:
        str: The downloaded file's path.

    Raises:
        MissingFileError: If the download fails or is switched off; the
            message says where to place the file by hand.
    """
    folder = osp.join(torch.hub.get_dir(), 'checkpoints')
    dst = osp.join(folder, filename)
    place = (f'download it on a machine with internet access and put it at '
             f'checkpoints/{filename} (or into any of '
             f'{", ".join(search_dirs())})')
    if os.environ.get('MMBDL_OFFLINE'):
        raise MissingFileError(
            f'{filename} not found and MMBDL_OFFLINE is set, so {url} is not '
            f'downloaded; {place}')
    try:
        with atomic_open(dst, 'wb', what='download') as out, \
                urllib.request.urlopen(url, timeout=timeout) as response:
            while True:
                chunk = response.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
    except DiskFullError:
        raise
    except OSError as err:  # URLError, timeouts
        raise MissingFileError(
            f'{filename} not found locally and {url} is unreachable '
            f'({getattr(err, "reason", err)}); {place}') from None
    return dst


def resolve_weights(source: str) -> Dict[str, str]:
    """Local path and key layout of a weights source.

    Args:
        source (str): A name of :data:`KNOWN_WEIGHTS`, a file path or an
            http(s) URL (with or without the ``bdl://`` prefix).

    Returns:
        dict: ``path`` (an existing file) and ``arch`` (a layout of
        :data:`~mmbdl.utils.weights.release_state_dict.ARCHS` or 'auto').

    Raises:
        MissingFileError: If the file is neither found nor downloadable.
    """
    if source.startswith(SCHEME):
        source = source[len(SCHEME):]
    known = KNOWN_WEIGHTS.get(source)
    if known is not None:
        path = find_weights(known['filename']) or download(
            known['url'], known['filename'])
        return dict(path=path, arch=known['arch'])
    if source.startswith(('http://', 'https://')):
        filename = osp.basename(source.split('?')[0])
        path = find_weights(filename) or download(source, filename)
        return dict(path=path, arch='auto')
    if osp.isfile(source):
        return dict(path=source, arch='auto')
    found = find_weights(osp.basename(source))
    if found is not None:
        return dict(path=found, arch='auto')
    raise MissingFileError(
        f'weights file {source} does not exist (also looked for '
        f'{osp.basename(source)} in {", ".join(search_dirs())}); use one of '
        f'{sorted(KNOWN_WEIGHTS)} or the path of a release checkpoint')


def load_converted(source: str, map_location=None,
                   num_classes: Optional[int] = None) -> dict:
    """Load a release-layout file and convert its keys to mmbdl's.

    Args:
        source (str): See :func:`resolve_weights`.
        map_location: ``torch.load``'s map_location. Defaults to None (cpu).
        num_classes (int, optional): Keep a DeepLab classifier only with this
            many classes. Defaults to None: the ImageNet initialisation's
            classifier is always dropped, a trained model's is kept.

    Returns:
        dict: ``state_dict`` (converted keys, ``backbone.*``,
        ``decode_head.*`` or ``layers.*``) and ``meta``.
    """
    from mmengine.logging import MMLogger

    from .release_state_dict import convert_release_state_dict
    found = resolve_weights(source)
    raw = torch.load(found['path'], map_location=map_location or 'cpu',
                     weights_only=True)
    try:
        arch = found['arch']
        classes = num_classes
        if classes is None and arch == 'deeplabv2-init':
            classes = -1  # no classifier of the init file is ever kept
        state, dropped, arch = convert_release_state_dict(
            raw, arch, classes)
    except ValueError as err:
        raise ConfigCheckError(f'{found["path"]}: {err}') from None
    MMLogger.get_current_instance().info(
        f'{source}: {found["path"]} read as {arch}, {len(state)} tensors '
        f'converted, {len(dropped)} dropped'
        + (f' ({", ".join(dropped[:4])}{" ..." if len(dropped) > 4 else ""})'
           if dropped else ''))
    return dict(state_dict=state,
                meta=dict(source=found['path'], arch=arch))


def load_from_bdl(filename: str, map_location=None) -> dict:
    """``bdl://`` loader of MMEngine's ``CheckpointLoader`` (its log line
    names the backend after ``load_from_``)."""
    return load_converted(filename, map_location)


def register_pretrained_scheme() -> None:
    """Register ``bdl://`` with MMEngine's ``CheckpointLoader`` (idempotent).
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(
        prefixes=SCHEME, loader=load_from_bdl, force=True)
