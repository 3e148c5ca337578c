"""EncoderDecoder that resizes class probabilities, not logits, at test."""
from typing import List, Optional

import torch.nn.functional as F
from mmseg.models.segmentors import EncoderDecoder
from mmseg.models.utils import resize
from mmseg.utils import OptSampleList, SampleList
from torch import Tensor

from mmbdl.registry import MODELS


@MODELS.register_module()
class BDLEncoderDecoder(EncoderDecoder):
    """MMSegmentation's ``EncoderDecoder`` with BDL's evaluation rule.

    BDL evaluates by taking the softmax of the network's raw output (1/8
    resolution logits for DeepLab-v2), resizing the probabilities bilinearly
    (``align_corners=True``) straight to the label size and taking the
    argmax. MMSegmentation resizes logits twice (to the input, then to the
    original size) and takes the argmax of the logits, which can flip
    pixels near class borders. With ``resize_probs=True`` and
    ``test_cfg.mode == 'whole'`` this class follows BDL; ``seg_logits`` of
    the returned samples then holds the resized probabilities. Training,
    ``'tensor'`` mode and sliding-window inference are unchanged.

    Args:
        resize_probs (bool): Follow BDL's rule at prediction. Defaults to
            True.
        **kwargs: Arguments of :class:`mmseg.models.EncoderDecoder`; set
            ``decode_head.align_corners=True`` for the release's resizing.
    """

    def __init__(self, resize_probs: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.resize_probs = resize_probs

    def predict(self,
                inputs: Tensor,
                data_samples: OptSampleList = None) -> SampleList:
        """Predict with probabilities resized to the original size.

        Args:
            inputs (Tensor): Pre-processed images (N, C, H, W).
            data_samples (list[SegDataSample], optional): Samples whose
                metainfo gives ``ori_shape``, padding and flip. Defaults to
                None (predictions at the input size).

        Returns:
            list[SegDataSample]: With ``pred_sem_seg`` and ``seg_logits``
            (probabilities when ``resize_probs``).
        """
        mode = (self.test_cfg or {}).get('mode', 'whole')
        if not self.resize_probs or mode != 'whole' or \
                self.decode_head.out_channels == 1:
            return super().predict(inputs, data_samples)
        logits = self.decode_head.forward(self.extract_feat(inputs))
        probs = F.softmax(logits.float(), dim=1)
        if data_samples is None or self._has_padding(data_samples):
            # padding is given in input pixels: go to the input size first
            probs = resize(probs, size=inputs.shape[2:], mode='bilinear',
                           align_corners=self.align_corners, warning=False)
        return self.postprocess_result(probs, data_samples)

    @staticmethod
    def _has_padding(data_samples: List) -> bool:
        for sample in data_samples:
            meta = sample.metainfo
            pad: Optional[list] = meta.get('img_padding_size',
                                           meta.get('padding_size'))
            if pad is not None and any(int(p) != 0 for p in pad):
                return True
        return False
