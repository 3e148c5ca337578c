# BDL (Algorithm 1, K=2, N=2) GTA5 -> Cityscapes with MMSegmentation's
# DeepLab-v3+ (ResNet-101-D8 V1c backbone, depthwise-separable ASPP head and
# an auxiliary FCN head) as M. Only the segmentor changes: the release's
# data (1280x720 / 1024x512, no crop), SGD 2.5e-4 (plain, without the
# release's repeated parameter list) with the head at 10x and the poly
# schedule, D, F, the loop and the hooks are inherited; F's
# perceptual model is this M.
#   python tools/train.py \
#       configs/bdl/bdl_deeplabv3plus-r101-d8_1xb1-k2n2_gta5-to-cityscapes-1024x512.py
# The backbone starts from MMSegmentation's ImageNet ResNet-101-V1c
# (open-mmlab://resnet101_v1c) through the checked `Pretrained` init.
_base_ = [
    './bdl_deeplabv2-r101_1xb1-k2n2_gta5-to-cityscapes-1024x512.py',
    '../_base_/models/deeplabv3plus_r101-d8.py',
]
model = dict(
    segmentor=dict(
        segmentor=dict(_delete_=True, **_base_.deeplabv3plus_segmentor),
        data_preprocessor=dict(
            source=_base_.v1c_data_preprocessor,
            target=_base_.v1c_data_preprocessor)))
# F's perceptual model follows this M (follow_segmentor in the base)
# plain SGD: the release's repeated backbone parameter list (RepeatedSGD)
# belongs to its DeepLab-v2 code, not to this model
optim_wrapper = dict(
    segmentation=dict(segmentor=dict(paramwise_cfg=dict(repeat_modules=[]))))
