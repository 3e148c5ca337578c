"""MMSegmentation's inferencer for the segmentor inside any BDL checkpoint."""
import copy
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch.nn as nn
from mmengine.config import Config, ConfigDict
from mmengine.dataset import pseudo_collate
from mmseg.apis import MMSegInferencer
from mmseg.structures import SegDataSample

from mmbdl.registry import INFERENCERS
from mmbdl.utils.errors import ConfigCheckError

ConfigType = Union[Config, ConfigDict]


def _meta_of_checkpoint(ckpt) -> dict:
    meta = ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}
    return meta if isinstance(meta, dict) else {}


def dataset_meta_for(cfg: Config, checkpoint_meta: dict,
                     num_classes: int) -> Dict[str, list]:
    """Class names and palette of a model with ``num_classes`` outputs.

    Taken from the checkpoint's ``dataset_meta`` (written by MMEngine's
    runner), else from the metainfo of the config's test data set, else the
    19 Cityscapes classes (all BDL settings) for 19 outputs; the first that
    has ``num_classes`` names wins. Otherwise classes are numbered and
    coloured deterministically.

    Args:
        cfg (Config): The config.
        checkpoint_meta (dict): The checkpoint's ``meta``.
        num_classes (int): The segmentor's number of classes.

    Returns:
        dict: ``classes`` and ``palette``.
    """
    from mmbdl.datasets.label_maps import cityscapes_metainfo
    candidates = [checkpoint_meta.get('dataset_meta') or {}]
    dataset = cfg.get('test_dataloader', {}).get('dataset', {})
    candidates.append(dataset.get('metainfo') or {})
    if num_classes == 19:
        candidates.append(cityscapes_metainfo())
    for meta in candidates:
        classes = meta.get('classes')
        if classes is not None and len(classes) == num_classes:
            palette = meta.get('palette')
            if palette is None or len(palette) != num_classes:
                palette = _palette(num_classes)
            return dict(classes=list(classes),
                        palette=[list(c) for c in palette])
    return dict(classes=[str(i) for i in range(num_classes)],
                palette=_palette(num_classes))


def _palette(n: int) -> List[List[int]]:
    rng = np.random.default_rng(42)
    return rng.integers(0, 256, size=(n, 3)).tolist()


@INFERENCERS.register_module()
def _load_once(checkpoint: str):
    from mmengine.runner.checkpoint import _load_checkpoint

    from mmbdl.utils.errors import MissingFileError
    if not osp.isfile(checkpoint):
        raise MissingFileError(f'checkpoint {checkpoint} does not exist')
    return _load_checkpoint(checkpoint, map_location='cpu')


class BDLSegInferencer(MMSegInferencer):
    """``MMSegInferencer`` that runs the plain segmentor of an mmbdl config.

    The config may describe a whole ``BDL`` model, an
    ``AdvSelfTrainingSegmentor`` or a plain segmentor; the inference
    segmentor inside it (``BDL.segmentor.segmentor``) is built and loaded
    from a checkpoint of any phase of a run (the whole model's weights,
    keys ``segmentor.segmentor.*``), of an adaptation run or of a plain
    segmentor. A checkpoint that does not fit is refused with the reason
    (see :func:`mmbdl.apis.segmentor_loading.
    load_inference_segmentor`). The config's test pipeline (without
    ``LoadAnnotations``) prepares the images, so predictions follow the
    config's evaluation rule (BDL: probabilities resized to the image size).

    Args:
        model (str | Config): Config file or config.
        weights (str): Checkpoint file.
        device (str, optional): Device. Defaults to None (CUDA if
            available).
        opacity (float): Weight of the colour overlay. Defaults to 0.5.
        allow_partial (bool): Load a checkpoint that lacks some of the
            segmentor's weights, with a warning. Defaults to False.
    """

    def __init__(self,
                 model: Union[str, Config],
                 weights: str,
                 device: Optional[str] = None,
                 opacity: float = 0.5,
                 allow_partial: bool = False) -> None:
        cfg = Config.fromfile(model) if isinstance(model, str) else \
            copy.deepcopy(model)
        # read once: its meta here, its weights in _init_model
        self._loaded = _load_once(weights)
        self._checkpoint_meta = _meta_of_checkpoint(self._loaded)
        self._allow_partial = allow_partial
        if cfg.get('visualizer'):
            # overlays are drawn in memory: no logging backends (they would
            # warn without a save_dir)
            cfg.visualizer.pop('vis_backends', None)
        super().__init__(model=cfg, weights=weights, device=device,
                         scope='mmbdl')
        meta = self.model.dataset_meta
        self.visualizer.set_dataset_meta(meta['classes'], meta['palette'])
        self.visualizer.alpha = opacity
        self.show_progress = False  # the tool shows its own ProgressBar

    def _init_model(self, cfg: ConfigType, weights: Optional[str],
                    device: str = 'cpu') -> nn.Module:
        """Build the inference segmentor and load ``weights`` into it."""
        from .segmentor_loading import load_inference_segmentor
        if weights is None:
            raise ConfigCheckError(
                'BDLSegInferencer needs a checkpoint (weights)')
        model = load_inference_segmentor(cfg, weights, device='cpu',
                                         allow_partial=self._allow_partial,
                                         loaded=self._loaded)
        self._loaded = None  # the weights are in the model now
        model.dataset_meta = dataset_meta_for(
            cfg, self._checkpoint_meta, int(model.decode_head.num_classes))
        model.cfg = cfg
        return model.to(device).eval()

    def _init_collate(self, cfg: ConfigType):
        """MMEngine's ``pseudo_collate`` unless the test dataloader names
        another (looked up in MMEngine's scope: mmbdl has no function
        registry)."""
        collate = cfg.get('test_dataloader', {}).get('collate_fn')
        if collate is None or collate.get('type') == 'pseudo_collate':
            return pseudo_collate
        from mmengine.registry import FUNCTIONS
        with FUNCTIONS.switch_scope_and_registry('mmengine') as registry:
            return registry.get(collate['type'])

    def predict(self, images: Sequence[np.ndarray]) -> List[SegDataSample]:
        """Segment BGR images (as read by ``mmcv.imread``).

        Args:
            images (Sequence[np.ndarray]): ``H x W x 3`` uint8 BGR images.

        Returns:
            list[SegDataSample]: One prediction per image, at its size.
        """
        result = self(list(images), return_datasamples=True,
                      batch_size=len(images))
        preds = result['predictions'] if isinstance(result, dict) else result
        if isinstance(preds, SegDataSample):
            preds = [preds]
        return list(preds)

    def overlay(self, image_bgr: np.ndarray,
                pred: SegDataSample) -> np.ndarray:
        """The image with the prediction painted over it (RGB).

        Args:
            image_bgr (np.ndarray): The image (BGR).
            pred (SegDataSample): Its prediction.

        Returns:
            np.ndarray: ``H x W x 3`` uint8 RGB.
        """
        self.visualizer.add_datasample(
            'overlay', np.ascontiguousarray(image_bgr[..., ::-1]), pred,
            draw_gt=False, draw_pred=True, show=False, with_labels=False)
        return self.visualizer.get_image()
