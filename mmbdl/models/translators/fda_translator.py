"""FDA as BDL's translator F: no training; each source image takes the
amplitude of a random target image, at every iteration (online, as the
release trains) or once (offline, S' written by the SourceTranslationHook).
"""
import logging
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import mmcv
import numpy as np
import torch
from mmengine.logging import print_log
from mmengine.model import BaseModel
from torch import Tensor

from mmbdl.registry import MODELS
from mmbdl.utils.errors import ConfigCheckError, MissingFileError
from .base_translator import BaseTranslator
from .fda import band_size, check_beta, fda_source_to_target
from .utils import ImageNormalization

DOMAINS = ('source', 'target')


def list_target_images(img_dir: str, img_suffix: str) -> List[str]:
    """Sorted paths of the images below ``img_dir`` ending with
    ``img_suffix``.

    Raises:
        MissingFileError: If ``img_dir`` is not a folder.
        ConfigCheckError: If it holds no such image.
    """
    if not osp.isdir(img_dir):
        raise MissingFileError(
            f'FDA target image folder {img_dir} does not exist; set '
            "target_img_dir to the target dataset's image folder")
    found = []
    for root, dirs, files in os.walk(img_dir, followlinks=True):
        dirs.sort()
        found += [osp.join(root, name) for name in files
                  if name.endswith(img_suffix) and not name.startswith('.')]
    if not found:
        raise ConfigCheckError(
            f'FDA target image folder {img_dir} holds no image ending with '
            f'{img_suffix!r}: FDA needs target images to take the amplitude '
            'from; check target_img_dir and img_suffix')
    return sorted(found)


@MODELS.register_module()
class FDATranslator(BaseModel, BaseTranslator):
    """Fourier Domain Adaptation (Yang & Soatto, CVPR 2020) as F.

    Two modes, the same rule (:func:`fda_source_to_target` on 0..255
    pixels, output unclipped):

    - online (``online=True``, the release's training): BDL's training
      step hands every raw UDA batch of a segmentor phase that trains on
      target data to :meth:`translate_batch`, which gives source image
      ``i`` the low-frequency amplitude of the same batch's target image
      ``i`` (``UDADataset`` pairs each source sample with a random target
      sample, so every iteration draws new targets). No S' is written:
      the config sets ``train_cfg.translate_source=False`` and has no
      ``SourceTranslationHook``;
    - offline (``online=False``): :meth:`translate` translates every image
      with a target image drawn at random (uniformly, from a generator
      seeded with ``seed``, so a rerun draws the same images) from
      ``target_img_dir``, read as RGB and resized to the source image's
      size; the ``SourceTranslationHook`` writes S' with it once.

    :meth:`translate` works in both modes (``tools/translate.py``, the
    visualisation hook); it needs ``target_img_dir``. Images enter and
    leave it as 0..255 RGB floats. The translator has no weights and no
    training phase (:attr:`trains` is False); translation into the source
    domain does not exist.

    Args:
        target_img_dir (str, optional): Folder of the target images
            (searched recursively) that :meth:`translate` draws from.
            Required offline; online only :meth:`translate` reads it.
            Defaults to None.
        beta (float): Band size in ``(0, 0.5]``. Defaults to 0.01.
        img_suffix (str): Ending of the target images. Defaults to '.png'.
        interpolation (str): Resize interpolation of the target images
            (both modes: a target image of another size than its source
            image is resized to the source image's size with Pillow).
            Defaults to 'bicubic'.
        seed (int): Seed of the target image draws of :meth:`translate`.
            Defaults to 0.
        online (bool): Translate every training batch
            (:meth:`translate_batch`) instead of writing S' once.
            Defaults to True (the release).
        data_preprocessor (dict, optional): MMEngine's data preprocessor.
            Defaults to None.
    """

    trains = False

    def __init__(self,
                 target_img_dir: Optional[str] = None,
                 beta: float = 0.01,
                 img_suffix: str = '.png',
                 interpolation: str = 'bicubic',
                 seed: int = 0,
                 online: bool = True,
                 data_preprocessor: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
        self.beta = check_beta(beta)
        if not isinstance(online, bool):
            raise ConfigCheckError(
                f'FDATranslator online={online!r} must be True (translate '
                'every training batch) or False (S\' written once)')
        if not online and target_img_dir is None:
            raise ConfigCheckError(
                'FDATranslator(online=False) needs target_img_dir, the '
                'folder of the target images it draws from; set it, or '
                'online=True to take the target images of each batch')
        self.online = online
        self.target_img_dir = target_img_dir
        self.img_suffix = img_suffix
        self._target_images = None  # listed at first use (check_inputs)
        self.interpolation = interpolation
        self.seed = int(seed)
        self._draws = torch.Generator().manual_seed(self.seed)
        self._warned = set()  # image sizes warned about a 0-pixel band

    @property
    def target_images(self) -> List[str]:
        """list[str]: The target image files, listed at first use (a
        config builds without its data; the loop lists them before its
        first phase through :meth:`check_inputs`)."""
        if self._target_images is None:
            if self.target_img_dir is None:
                raise ConfigCheckError(
                    'FDATranslator.translate draws target images from '
                    'target_img_dir, which is not set; set it to the '
                    "target dataset's image folder")
            self._target_images = list_target_images(self.target_img_dir,
                                                     self.img_suffix)
        return self._target_images

    def check_inputs(self) -> None:
        """Refuse a missing or empty ``target_img_dir`` (naming it) when
        training reads it (offline); online the batches bring the target
        images."""
        if not self.online:
            self.target_images  # noqa: B018  (lists them)

    @property
    def domains(self) -> Tuple[str, ...]:
        """tuple[str]: ``('source', 'target')``."""
        return DOMAINS

    @property
    def input_normalization(self) -> ImageNormalization:
        """ImageNormalization: 0..255 RGB (mean 0, std 1)."""
        return ImageNormalization(
            torch.zeros(3, 1, 1), torch.ones(3, 1, 1), 'RGB')

    def direction_state(self, target_domain: str) -> Dict[str, Tensor]:
        """``beta``, ``seed`` and the number of target images."""
        return dict(beta=torch.tensor([self.beta], dtype=torch.float64),
                    seed=torch.tensor([self.seed]),
                    num_target_images=torch.tensor(
                        [len(self.target_images)]))

    def draw_targets(self, num: int) -> List[str]:
        """The next ``num`` randomly drawn target image paths."""
        index = torch.randint(len(self.target_images), (num, ),
                              generator=self._draws)
        return [self.target_images[i] for i in index.tolist()]

    def load_targets(self, paths: Sequence[str], size: Tuple[int, int],
                     device: torch.device) -> Tensor:
        """Target images as a ``(N, 3, H, W)`` 0..255 RGB float tensor.

        Args:
            paths (Sequence[str]): Image files.
            size (tuple[int, int]): ``(H, W)`` to resize to.
            device (torch.device): Where the tensor goes.
        """
        imgs = []
        for path in paths:
            img = mmcv.imread(path, flag='color', channel_order='rgb')
            if img is None:
                raise ConfigCheckError(f'cannot read target image {path}')
            if img.shape[:2] != tuple(size):
                img = mmcv.imresize(img, (size[1], size[0]),
                                    interpolation=self.interpolation,
                                    backend='pillow')
            imgs.append(np.ascontiguousarray(img))
        batch = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2)
        return batch.to(device=device, dtype=torch.float32)

    def translate(self, img: Tensor, target_domain: str) -> Tensor:
        """FDA of every image with a randomly drawn target image.

        Args:
            img (Tensor): ``(N, 3, H, W)`` 0..255 RGB source images.
            target_domain (str): Must be 'target'.

        Returns:
            Tensor: The translated images, 0..255 RGB, unclipped.
        """
        if target_domain != 'target':
            raise ConfigCheckError(
                'FDATranslator translates source images into the target '
                f"domain only, not into {target_domain!r}")
        height, width = img.shape[-2:]
        self.warn_empty_band(height, width)
        trg = self.load_targets(
            self.draw_targets(img.shape[0]), (height, width), img.device)
        return fda_source_to_target(img.float(), trg, self.beta)

    def warn_empty_band(self, height: int, width: int) -> None:
        """Warn once per image size when the band is 0 pixels wide."""
        if band_size(height, width, self.beta) == 0 and \
                (height, width) not in self._warned:
            self._warned.add((height, width))
            print_log(
                f'FDA beta={self.beta}: the band floor(min({height}, '
                f'{width}) * beta) is 0 pixels, so {height}x{width} images '
                'leave FDA unchanged; raise beta to at least '
                f'{1 / min(height, width):.4f}', logger='current',
                level=logging.WARNING)

    def resize_target(self, img: Tensor, size: Tuple[int, int]) -> Tensor:
        """A ``(C, h, w)`` image resized to ``size = (H, W)`` as the offline
        mode resizes (Pillow, :attr:`interpolation`), as float."""
        if tuple(img.shape[-2:]) == tuple(size):
            return img.float()
        hwc = img.permute(1, 2, 0).cpu().numpy()
        if hwc.dtype != np.uint8:
            raise ConfigCheckError(
                'FDATranslator resizes a target image to its source '
                f'image\'s size {tuple(size)} from uint8 pixels, got '
                f'{hwc.dtype} of size {tuple(img.shape[-2:])}; give both '
                'branches the same size in the pipelines')
        out = mmcv.imresize(np.ascontiguousarray(hwc), (size[1], size[0]),
                            interpolation=self.interpolation,
                            backend='pillow')
        return torch.from_numpy(np.ascontiguousarray(out)).permute(
            2, 0, 1).to(device=img.device, dtype=torch.float32)

    def translate_batch(self, data: dict) -> dict:
        """FDA of each source image with the same batch's target image.

        Source image ``i`` takes the amplitude of target image ``i`` (the
        release's pairing of the two loaders' batches), resized to the
        source image's size when the sizes differ. Both are the raw
        pipeline outputs (0..255, the pipelines' channel order: FDA works
        per channel); the translated images are float and unclipped, and
        the data preprocessor then normalises them as any source image.

        Args:
            data (dict): A raw ``UDADataset`` batch
                (``{'inputs': {'source': [...], 'target': [...]}, ...}``).

        Returns:
            dict: A copy of ``data`` whose ``inputs['source']`` holds the
            translations (the other entries are shared).

        Raises:
            ConfigCheckError: If the batch has no target branch or the two
                branches hold different numbers of images.
        """
        inputs = data.get('inputs') if isinstance(data, dict) else None
        if not isinstance(inputs, dict) or inputs.get('target') is None \
                or inputs.get('source') is None:
            got = sorted(inputs) if isinstance(inputs, dict) else \
                type(inputs).__name__
            raise ConfigCheckError(
                'FDATranslator(online=True) gives each source image the '
                'amplitude of the same batch\'s target image, but the '
                f'batch has no source and target branches (inputs: {got}); '
                "train on dataset=dict(type='UDADataset', ...) batches, or "
                'set the translator\'s online=False and add the '
                'SourceTranslationHook')
        sources, targets = inputs['source'], inputs['target']
        if len(sources) != len(targets):
            raise ConfigCheckError(
                f'FDATranslator(online=True) pairs source image i with '
                f'target image i, got {len(sources)} source and '
                f'{len(targets)} target images in one batch; use '
                'UDADataset, which pairs them one to one')
        translated = []
        for src, trg in zip(sources, targets):
            height, width = src.shape[-2:]
            self.warn_empty_band(height, width)
            trg = self.resize_target(trg, (height, width))
            translated.append(fda_source_to_target(
                src.float()[None], trg[None], self.beta)[0])
        if isinstance(sources, Tensor):
            translated = torch.stack(translated)
        out = dict(data)
        out['inputs'] = dict(inputs, source=translated)
        return out

    def train_step(self, data: dict, optim_wrapper) -> Dict[str, Tensor]:
        """FDA has no training: the BDL loop plans no phase for it."""
        raise RuntimeError(
            'FDATranslator has no training step: it has no weights, and the '
            'BDL loop plans no translation phase for a translator whose '
            '`trains` is False')

    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        """``translate`` into the target domain (MMEngine's signature)."""
        return self.translate(inputs, 'target')
