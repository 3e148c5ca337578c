# BDL's bidirectional loop (K=2, N=2) GTA5 -> Cityscapes with a vision
# foundation model as M: DINOv2 ViT-B/14 (official weights, converted on
# load) + MMSegmentation's SETR progressive-upsampling head, trained with
# VFM-UDA's recipe (AdamW, head lr 5e-5 at batch 1, ViT 0.1x with
# layer-wise rates, weight decay 0.01 on everything, linear warm-up from
# 1e-3 over 3.75% of each phase then linear decay to 0) and online
# self-training with an EMA teacher (alpha 0.999, threshold 0.968, DACS
# class-mix, rare-class sampling), as the DAFormer-recipe leaf this one
# inherits from. F and its perceptual loss are BDL's; F's perceptual model
# is this M (its 12 blocks checkpointed one by one in F's step).
#   python tools/train.py \
#       configs/bdl/bdl_dinov2-vitb14_1xb1-k2n2_gta5-to-cityscapes-504x504.py
# Weights: dinov2_vitb14_pretrain.pth (checkpoints/ or downloaded), see
# docs/vision_foundation_models.md for the switches (offline rounds, LoRA,
# register tokens, gradient checkpointing) and what is measured.
_base_ = [
    './bdl-ema_segformer-mit-b5_1xb1-k2n2_gta5-to-cityscapes-512x512.py'
]
# 36 x 36 patches: the multiple of 14 below 512 (Cityscapes is 512 high at
# BDL's training size, so DINOv2's 518 would not fit)
crop_size = (504, 504)
# F's crops: the multiple of 14 next to the release's 452 (32 x 32 patches
# of the perceptual pass)
translation_crop_size = (448, 448)
vit_arch = 'vit-b14'
vit_embed_dims = 768
vit_num_layers = 12
vit_checkpoint = 'bdl://dinov2-vitb14'
# ImageNet normalisation (DINOv2's); whole-image testing pads the image at
# the bottom / right to a multiple of 14 (cut off the prediction again)
vit_data_preprocessor = dict(
    _base_.imagenet_data_preprocessor, test_cfg=dict(size_divisor=14))
dinov2_segmentor = dict(
    type='BDLEncoderDecoder',
    data_preprocessor=vit_data_preprocessor,
    resize_probs=True,
    backbone=dict(
        type='DINOv2VisionTransformer',
        arch=vit_arch,
        img_size=518,  # the pretraining grid (37 x 37), interpolated
        patch_size=14,
        out_indices=-1,  # the last block, normalised (as VFM-UDA)
        num_register_tokens=0,  # 4 with bdl://dinov2-vitb14-reg4
        drop_path_rate=0.0,
        with_cp=False,  # gradient checkpointing of M's own training
        lora_cfg=None,  # dict(rank=8, alpha=8): frozen ViT + LoRA on qkv
        init_cfg=dict(type='Pretrained', checkpoint=vit_checkpoint,
                      prefix='backbone.')),
    # VFM-UDA's head upsamples the last block's tokens 4x (two transposed
    # convolutions with LayerNorm and GELU) before a 1x1 classifier; SETR's
    # PUP head is MMSegmentation's equivalent (two 3x3 conv + BN + ReLU +
    # 2x bilinear stages, then the classifier), at VFM-UDA's final width
    decode_head=dict(
        type='SETRUPHead',
        in_channels=vit_embed_dims,
        channels=vit_embed_dims // 4,
        in_index=0,
        num_convs=2,
        up_scale=2,
        kernel_size=3,
        dropout_ratio=0.0,
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
        segmentor=dict(_delete_=True, **dinov2_segmentor),
        data_preprocessor=dict(
            source=vit_data_preprocessor, target=vit_data_preprocessor)))

# ------------------------------------------------------------ 504 crops
train_dataloader = dict(
    dataset=dict(
        source=dict(pipeline=[
            dict(t, crop_size=crop_size) if t['type'] == 'RandomCrop' else t
            for t in _base_.train_dataloader.dataset.source.pipeline
        ]),
        target=dict(pipeline=[
            dict(t, crop_size=crop_size) if t['type'] == 'RandomCrop' else t
            for t in _base_.train_dataloader.dataset.target.pipeline
        ])))
train_cfg = dict(
    phase_dataloaders=dict(
        translation=dict(
            dataset=dict(pipeline=[
                dict(t, crop_size=translation_crop_size)
                if t['type'] == 'mmagic.Crop' else t for t in _base_.train_cfg.
                phase_dataloaders.translation.dataset.pipeline
            ]))))

# ------------------------------------------------------------- schedule
optim_wrapper = dict(
    segmentation=dict(
        segmentor=dict(
            constructor='ViTLayerDecayOptimWrapperConstructor',
            optimizer=dict(
                _delete_=True,
                type='AdamW',
                lr=5e-5,  # VFM-UDA: 5e-5 x sqrt(batch size 1)
                betas=(0.9, 0.999),
                weight_decay=0.01),
            paramwise_cfg=dict(
                _delete_=True,
                num_layers=vit_num_layers,
                decay_rate=1.0,  # VFM-UDA's default (0.9: decayed rates)
                backbone_lr_mult=0.1))))
vit_schedule = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False,
         relative_begin=0.0, relative_end=0.0375),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False,
         relative_begin=0.0375, relative_end=1.0)
]
param_scheduler = dict(segmentation=vit_schedule, self_training=vit_schedule)
