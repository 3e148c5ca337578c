# BDL (Algorithm 1, K=2, N=2) GTA5 -> Cityscapes with a modern backbone:
# MMSegmentation's SegFormer (MixVisionTransformer MiT-B5 + SegformerHead)
# as M, trained as DAFormer trains it (AdamW 6e-5, head lr x10, no weight
# decay on norms and position blocks, linear warm-up over the first 3.75%
# of each phase (1500 of DAFormer's 40k) then poly with power 1; 512x512
# random crops). Everything else (D,
# lambda_adv, F and its schedule, the loop, the hooks, the phase budgets)
# is inherited from the DeepLab-v2 config; F's perceptual model is this M.
#   python tools/train.py \
#       configs/bdl/bdl_segformer-mit-b5_1xb1-k2n2_gta5-to-cityscapes-512x512.py
# MiT-B5 starts from MMSegmentation's converted ImageNet weights (the
# checked `Pretrained` init of every mmbdl config; put the file into
# checkpoints/ on a machine without internet access).
_base_ = [
    './bdl_deeplabv2-r101_1xb1-k2n2_gta5-to-cityscapes-1024x512.py',
    '../_base_/models/imagenet_data_preprocessor.py',
]
crop_size = (512, 512)  # (h, w), DAFormer's
mit_b5_checkpoint = ('https://download.openmmlab.com/mmsegmentation/v0.5/'
                     'pretrain/segformer/mit_b5_20220624-658746d9.pth')
# ImageNet normalisation (RGB) for the MiT weights, per branch
mit_data_preprocessor = _base_.imagenet_data_preprocessor
mit_segmentor = dict(
    type='BDLEncoderDecoder',
    data_preprocessor=mit_data_preprocessor,
    resize_probs=True,
    backbone=dict(
        type='MixVisionTransformer',
        in_channels=3,
        embed_dims=64,
        num_stages=4,
        num_layers=[3, 6, 40, 3],
        num_heads=[1, 2, 5, 8],
        patch_sizes=[7, 3, 3, 3],
        sr_ratios=[8, 4, 2, 1],
        out_indices=(0, 1, 2, 3),
        mlp_ratio=4,
        qkv_bias=True,
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=mit_b5_checkpoint)),
    decode_head=dict(
        type='SegformerHead',
        in_channels=[64, 128, 320, 512],
        in_index=[0, 1, 2, 3],
        channels=768,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=dict(type='BN', requires_grad=True),
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0,
            avg_non_ignore=True)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
model = dict(
    segmentor=dict(
        segmentor=dict(_delete_=True, **mit_segmentor),
        data_preprocessor=dict(
            source=mit_data_preprocessor, target=mit_data_preprocessor)))
# the perceptual loss of F(k) is computed by this M: the base's
# perceptual_model=dict(follow_segmentor=True) builds it from the segmentor
# above (the loop copies M's weights in before each translation phase)

# ------------------------------------------------------------ 512 crops
# DAFormer's crops: the images at the BDL training sizes (GTA5 1280x720,
# Cityscapes 1024x512), then a random 512x512 crop and a flip
train_dataloader = dict(
    dataset=dict(
        source=dict(pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations'),
            dict(type='Resize', scale=(1280, 720), keep_ratio=False,
                 interpolation='bicubic', backend='pillow'),
            dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
            dict(type='RandomFlip', prob=0.5),
            dict(type='PackSegInputs')
        ]),
        target=dict(pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=(1024, 512), keep_ratio=False,
                 interpolation='bicubic', backend='pillow'),
            # the pseudo-labels are made at 1024x512 and cropped with the
            # image
            dict(type='LoadPseudoLabel', num_classes=19),
            dict(type='RandomCrop', crop_size=crop_size),
            dict(type='RandomFlip', prob=0.5),
            dict(type='PackBDLSegInputs')
        ])))

# ------------------------------------------------------------- schedule
optim_wrapper = dict(
    segmentation=dict(
        segmentor=dict(
            # MMEngine's constructor: the release's repeated parameter list
            # (RepeatedSGD) is a property of the DeepLab-v2 code only
            constructor='DefaultOptimWrapperConstructor',
            optimizer=dict(
                _delete_=True,
                type='AdamW',
                lr=6e-5,
                betas=(0.9, 0.999),
                weight_decay=0.01),
            paramwise_cfg=dict(
                _delete_=True,
                custom_keys=dict(
                    decode_head=dict(lr_mult=10.0),
                    pos_block=dict(decay_mult=0.0),
                    norm=dict(decay_mult=0.0))))))
# DAFormer warms up linearly over 1500 of its 40k iterations (3.75%) and
# then decays with poly 1.0 to 0; here the same shares of each phase
# (relative_*: fractions of the phase length, so a shortened phase keeps
# the shape)
mit_schedule = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False,
         relative_begin=0.0, relative_end=0.0375),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False,
         relative_begin=0.0375, relative_end=1.0)
]
# every segmentation phase kind (the DeepLab-v2 base has its own
# self-training horizon)
param_scheduler = dict(segmentation=mit_schedule, self_training=mit_schedule)
