# The adversarial segmentation model M of BDL (Eq. 1) with a modern
# MMSegmentation segmentor swapped in by config alone: DeepLabV3+ with a
# ResNet-101-D8 (V1c) backbone and an auxiliary FCN head, from MMSegmentation
# modules only. Everything else (D, lambda_adv 1e-3, data, SGD/poly
# schedule, 10x lr for `decode_head`) is inherited. Evaluation still follows
# BDL's rule (BDLEncoderDecoder); D sees the softmax of the decode head's
# logits resized to the input (align_corners=False for this head).
_base_ = ['./adv_deeplabv2-r101_1xb1-80k_gta5-to-cityscapes-1024x512.py']
norm_cfg = dict(type='BN', requires_grad=True)  # SyncBN on several GPUs
model = dict(
    segmentor=dict(
        _delete_=True,
        type='BDLEncoderDecoder',
        data_preprocessor=_base_.data_preprocessor,
        pretrained='open-mmlab://resnet101_v1c',
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
            contract_dilation=True),
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
        test_cfg=dict(mode='whole')))
# not a release model: plain SGD, without the release's repeated backbone
# parameter list (see ../_base_/schedules/deeplabv2_sgd-poly-250k_80k.py)
optim_wrapper = dict(segmentor=dict(paramwise_cfg=dict(repeat_modules=[])))
