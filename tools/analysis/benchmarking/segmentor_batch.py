"""A synthetic UDA batch (random images, labelled source) for timing."""
from typing import Dict, List, Tuple

import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample


def make_batch(args, num_classes: int) -> Dict:
    """A batch of random ``uint8`` images as the UDA pre-processor takes it.

    Args:
        args: ``batch_size``, ``source_size`` and ``target_size`` (w, h).
        num_classes (int): Labels of the source images are drawn from
            ``range(num_classes)``.

    Returns:
        dict: ``inputs`` and ``data_samples``, each with ``source`` and
        ``target`` lists.
    """
    def branch(size: Tuple[int, int], labelled: bool) -> Tuple[List, List]:
        w, h = size
        imgs, samples = [], []
        for _ in range(args.batch_size):
            imgs.append(torch.randint(0, 256, (3, h, w), dtype=torch.uint8))
            s = SegDataSample(metainfo=dict(img_shape=(h, w),
                                            ori_shape=(h, w)))
            if labelled:
                s.gt_sem_seg = PixelData(data=torch.randint(
                    0, num_classes, (1, h, w), dtype=torch.int64))
            samples.append(s)
        return imgs, samples

    src_imgs, src_samples = branch(args.source_size, True)
    tgt_imgs, tgt_samples = branch(args.target_size, False)
    return dict(inputs=dict(source=src_imgs, target=tgt_imgs),
                data_samples=dict(source=src_samples, target=tgt_samples))
