"""Test-time augmentation that averages class probabilities."""
from typing import List

import torch
from mmengine.structures import PixelData
from mmseg.models.segmentors import SegTTAModel
from mmseg.structures import SegDataSample
from mmseg.utils import SampleList
from torch import Tensor, nn

from mmbdl.registry import MODELS
from mmbdl.utils.errors import ConfigCheckError


def outputs_probabilities(segmentor: nn.Module) -> bool:
    """Whether ``segmentor.predict`` puts probabilities in ``seg_logits``.

    :class:`~mmbdl.models.BDLEncoderDecoder` does with ``resize_probs=True``,
    whole-image inference and more than one output channel; every other
    segmentor (and those settings off) returns logits.

    Args:
        segmentor (nn.Module): A plain MMSegmentation segmentor.

    Returns:
        bool: True for probabilities.
    """
    from .bdl_encoder_decoder import BDLEncoderDecoder
    if not isinstance(segmentor, BDLEncoderDecoder) or \
            not segmentor.resize_probs:
        return False
    mode = (segmentor.test_cfg or {}).get('mode', 'whole')
    return mode == 'whole' and segmentor.decode_head.out_channels > 1


@MODELS.register_module()
class BDLSegTTAModel(SegTTAModel):
    """MMSegmentation's ``SegTTAModel`` for BDL models and segmentors.

    The wrapped ``module`` may be a whole ``BDL`` model, an
    ``AdvSelfTrainingSegmentor`` or a plain segmentor: its inference
    segmentor (found through ``.segmentor`` attributes) says what
    ``seg_logits`` holds. With :class:`BDLEncoderDecoder`'s BDL rule the
    views' ``seg_logits`` already are class probabilities (resized to the
    original image and flipped back by the segmentor), so they are averaged
    as they are; ``SegTTAModel`` would apply a second softmax. Logits of any
    other segmentor get the softmax (sigmoid for one channel) first, as in
    ``SegTTAModel``. The merged sample carries the mean probabilities in
    ``seg_logits``, their argmax in ``pred_sem_seg``, the first view's
    metainfo and its ground truth.

    Args:
        module (dict | nn.Module): The model to augment.
        data_preprocessor (dict, optional): Unused by TTA models (each view
            goes through the module's own). Defaults to None.
    """

    def _inference_segmentor(self) -> nn.Module:
        from mmbdl.utils import get_inference_segmentor
        return get_inference_segmentor(self.module)

    def view_probabilities(self, sample: SegDataSample,
                           segmentor: nn.Module) -> Tensor:
        """The class probabilities of one view (``C x H x W``).

        Args:
            sample (SegDataSample): A view's prediction.
            segmentor (nn.Module): The inference segmentor.

        Returns:
            Tensor: Probabilities (sigmoid scores for one channel).
        """
        data = sample.seg_logits.data
        if outputs_probabilities(segmentor):
            return data
        if segmentor.out_channels > 1:
            return data.softmax(dim=0)
        return data.sigmoid()

    def merge_preds(self, data_samples_list: List[SampleList]) -> SampleList:
        """Average the views' probabilities of every image.

        Args:
            data_samples_list (list[list[SegDataSample]]): For every image,
                the predictions of its views.

        Returns:
            list[SegDataSample]: One merged prediction per image.

        Raises:
            ConfigCheckError: If the views of an image differ in size (a
                view's prediction was not resized to the original image).
        """
        segmentor = self._inference_segmentor()
        predictions = []
        for views in data_samples_list:
            probs = [self.view_probabilities(v, segmentor) for v in views]
            shapes = {tuple(p.shape) for p in probs}
            if len(shapes) != 1:
                raise ConfigCheckError(
                    f'{views[0].metainfo.get("img_path", "an image")}: its '
                    f'TTA views predict different sizes {sorted(shapes)}; '
                    'every view must be resized back to the original image')
            mean = torch.stack(probs).mean(dim=0)
            if segmentor.out_channels > 1:
                pred = mean.argmax(dim=0, keepdim=True)
            else:
                pred = (mean > segmentor.decode_head.threshold).to(mean)
            merged = SegDataSample(metainfo=views[0].metainfo)
            merged.seg_logits = PixelData(data=mean)
            merged.pred_sem_seg = PixelData(data=pred)
            if 'gt_sem_seg' in views[0]:
                merged.gt_sem_seg = views[0].gt_sem_seg
            predictions.append(merged)
        return predictions
