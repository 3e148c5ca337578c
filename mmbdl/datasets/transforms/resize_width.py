"""Resize images to a fixed width, keeping the aspect ratio."""
from typing import List, Union

import mmcv
from mmcv.transforms import BaseTransform

from mmbdl.registry import TRANSFORMS
from mmbdl.utils.errors import ConfigCheckError


@TRANSFORMS.register_module()
class ResizeWidth(BaseTransform):
    """Resize every image in ``keys`` to ``width`` pixels wide.

    The height becomes ``int(width * h / w)`` (truncated), as CycleGAN's
    ``scale_width`` pre-processing that the BDL release trains its translator
    with (width 1024, then random 452x452 crops). Each key is resized on its
    own, so unpaired images of different sizes are fine.

    Required Keys: the keys in ``keys``.
    Modified Keys: the keys in ``keys``; ``<key>_shape`` is added.

    Args:
        keys (str | list[str]): Image keys, e.g. ``['img_source',
            'img_target']``.
        width (int): Output width. Defaults to 1024.
        interpolation (str): Defaults to 'bicubic'.
        backend (str): 'cv2' or 'pillow'. Defaults to 'pillow' (the
            release resizes with PIL).
    """

    def __init__(self,
                 keys: Union[str, List[str]],
                 width: int = 1024,
                 interpolation: str = 'bicubic',
                 backend: str = 'pillow') -> None:
        self.keys = [keys] if isinstance(keys, str) else list(keys)
        if width <= 0:
            raise ConfigCheckError(f'width must be positive, got {width}')
        self.width = int(width)
        self.interpolation = interpolation
        self.backend = backend

    def transform(self, results: dict) -> dict:
        """Resize the images.

        Args:
            results (dict): Result dict of the pipeline.

        Returns:
            dict: The updated results.
        """
        for key in self.keys:
            img = results[key]
            h, w = img.shape[:2]
            new_h = max(1, int(self.width * h / w))
            if (new_h, self.width) != (h, w):
                img = mmcv.imresize(
                    img, (self.width, new_h),
                    interpolation=self.interpolation,
                    backend=self.backend)
                if img.ndim == 2:
                    img = img[..., None]
            results[key] = img
            results[f'{key}_shape'] = img.shape
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(keys={self.keys}, width={self.width},'
                f' interpolation={self.interpolation!r}, '
                f'backend={self.backend!r})')
