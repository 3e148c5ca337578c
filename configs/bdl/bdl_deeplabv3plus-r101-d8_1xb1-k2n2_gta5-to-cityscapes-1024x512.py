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
_base_ = ['./bdl_deeplabv2-r101_1xb1-k2n2_gta5-to-cityscapes-1024x512.py']
norm_cfg = dict(type='BN', requires_grad=True)  # SyncBN on several GPUs
# ImageNet normalisation (RGB) for the V1c weights, per branch
v1c_data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    size_divisor=1,
    pad_val=0,
    seg_pad_val=255)
deeplabv3plus_segmentor = dict(
    type='BDLEncoderDecoder',
    data_preprocessor=v1c_data_preprocessor,
    resize_probs=True,
    backbone=dict(
        type='ResNetV1c',
        depth=101,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        dilations=(1, 1, 2, 4),
        strides=(1, 2, 1, 1),
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        contract_dilation=True,
        init_cfg=dict(type='Pretrained',
                      checkpoint='open-mmlab://resnet101_v1c')),
    decode_head=dict(
        type='DepthwiseSeparableASPPHead',
        in_channels=2048,
        in_index=3,
        channels=512,
        dilations=(1, 12, 24, 36),
        c1_in_channels=256,
        c1_channels=48,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0,
            avg_non_ignore=True)),
    auxiliary_head=dict(
        type='FCNHead',
        in_channels=1024,
        in_index=2,
        channels=256,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4,
            avg_non_ignore=True)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
model = dict(
    segmentor=dict(
        segmentor=dict(_delete_=True, **deeplabv3plus_segmentor),
        data_preprocessor=dict(
            source=v1c_data_preprocessor, target=v1c_data_preprocessor)))
# F's perceptual model follows this M (follow_segmentor in the base)
# plain SGD: the release's repeated backbone parameter list (RepeatedSGD)
# belongs to its DeepLab-v2 code, not to this model
optim_wrapper = dict(
    segmentation=dict(segmentor=dict(paramwise_cfg=dict(repeat_modules=[]))))
