# The adversarial segmentation model M of BDL (Eq. 1) with a modern
# MMSegmentation segmentor swapped in by config alone: DeepLabV3+ with a
# ResNet-101-D8 (V1c) backbone and an auxiliary FCN head, from MMSegmentation
# modules only. Everything else (D, lambda_adv 1e-3, data, SGD/poly
# schedule, 10x lr for `decode_head`) is inherited. Evaluation still follows
# BDL's rule (BDLEncoderDecoder); D sees the softmax of the decode head's
# logits resized to the input (align_corners=False for this head).
_base_ = [
    './adv_deeplabv2-r101_1xb1-80k_gta5-to-cityscapes-1024x512.py',
    '../_base_/models/deeplabv3plus_r101-d8.py',
]
# the segmentor with the ImageNet (RGB mean / std) normalisation its V1c
# weights expect, on both branches
model = dict(
    segmentor=dict(_delete_=True, **_base_.deeplabv3plus_segmentor),
    data_preprocessor=dict(
        source=_base_.v1c_data_preprocessor,
        target=_base_.v1c_data_preprocessor))
# not a release model: plain SGD, without the release's repeated backbone
# parameter list (see ../_base_/schedules/deeplabv2_sgd-poly-250k_80k.py)
optim_wrapper = dict(segmentor=dict(paramwise_cfg=dict(repeat_modules=[])))
