# MMSegmentation's DeepLab-v3+ (ResNet-101-D8 V1c backbone, depthwise-
# separable ASPP head, auxiliary FCN head) as a BDL segmentor (BDL's
# evaluation rule through BDLEncoderDecoder), with the ImageNet
# normalisation its V1c weights expect (RGB mean / std, not the release's
# Caffe BGR mean). The backbone starts from MMSegmentation's ImageNet
# ResNet-101-V1c (open-mmlab://resnet101_v1c) through the checked
# `Pretrained` init. Used by the adv_ and bdl_deeplabv3plus leaves.
_base_ = ['./imagenet_data_preprocessor.py']
v1c_norm_cfg = dict(type='BN', requires_grad=True)  # SyncBN on several GPUs
# ImageNet normalisation (RGB) for the V1c weights, per branch
v1c_data_preprocessor = _base_.imagenet_data_preprocessor
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
        norm_cfg=v1c_norm_cfg,
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
        norm_cfg=v1c_norm_cfg,
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
        norm_cfg=v1c_norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4,
            avg_non_ignore=True)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
