# VFM-UDA (Englert et al., CVPRW 2024; release tue-mps/vfm-uda,
# uda_vit_vanilla.yaml) on MMSegmentation: DINOv2 ViT-B/14 with the
# release's light head, trained 40k iterations at batch 8 on GTA5 ->
# Cityscapes with an EMA teacher, class-mix and token-masked consistency.
# The release reports 77.1 mIoU on Cityscapes val. Every number below is
# the release's unless its comment says otherwise; docs/vfm_uda.md lists
# what differs and the BDL variants built on top (this directory).
#   python tools/train.py \
#       configs/vfm-uda/vfm-uda_dinov2-vitb14_1xb8-40k_gta5-to-cityscapes-1024x1024.py
# Weights: dinov2_vitb14_pretrain.pth (checkpoints/ or downloaded, see
# docs/pretrained_weights.md); its mask_token is kept for token masking.
_base_ = [
    '../_base_/datasets/vfm-uda_gta5-to-cityscapes-1024x1024.py',
    '../_base_/datasets/unpaired_images.py',  # F's images (BDL variants)
    '../_base_/bdl/bdl_translator.py',  # F and its optimizers (variants)
    '../_base_/bdl/bdl_loop.py',
    '../_base_/models/imagenet_data_preprocessor.py',
    '../_base_/default_runtime.py',
]
num_classes = 19
crop = 1024  # img_size
# the ViT sees the crop resized to int(1.1 * crop) // 14 * 14 = 1120
# (80 x 80 patches); the logits come back to the crop's size
vit_input_size = int(crop * 1.1) // 14 * 14
batch_size = 8  # per GPU; the lr below scales with sqrt(total batch)
num_gpus = 1
max_iters = 40000

# ----------------------------------------------------------------- model
vit_data_preprocessor = _base_.imagenet_data_preprocessor  # [0,1], ImageNet
vfm_segmentor = dict(
    type='BDLEncoderDecoder',
    data_preprocessor=vit_data_preprocessor,
    resize_probs=True,
    backbone=dict(
        type='DINOv2VisionTransformer',
        arch='vit-b14',  # ViT-L/14: ../_base_/models/vfm-uda_dinov2-vitl14.py
        img_size=518,  # the pretraining grid (37 x 37), interpolated
        patch_size=14,
        out_indices=-1,  # patch tokens after the final norm
        num_register_tokens=0,
        drop_path_rate=0.0,
        with_cp=False,  # gradient checkpointing (docs/vfm_uda.md, memory)
        lora_cfg=None,
        with_mask_token=True,  # DINOv2's, for the token masking
        input_resize=vit_input_size,
        init_cfg=dict(type='Pretrained', checkpoint='bdl://dinov2-vitb14',
                      prefix='backbone.')),
    decode_head=dict(
        type='VFMLightHead',
        in_channels=768,  # the ViT's embedding width
        num_classes=num_classes,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0,
            avg_non_ignore=True)),  # F.cross_entropy's mean
    train_cfg=dict(),
    # sliding 1024 crops, stride crop / 2
    test_cfg=dict(mode='slide', crop_size=(crop, crop),
                  stride=(crop // 2, crop // 2)))
# the step's augmentations (on the device, after the pipeline): weak on
# the source for its CE and on the target before mixing; strong on the
# mixed and on the masked target
weak_jitter = dict(brightness=32 / 255, contrast=0.5, saturation=0.5,
                   hue=18 / 360, p=0.9)
strong_augment = dict(brightness=0.2, contrast=0.2, saturation=0.2,
                      hue=0.2, p=0.8, blur_p=0.5, blur_sigma=(0.15, 1.15))
token_mask_ratio = 0.7
# one backward of the sum = the release's three backwards, one step
vfm_uda_terms = [
    dict(type='SourceCE', augment=weak_jitter),
    dict(type='ClassMix', classes='batch', target_augment=weak_jitter,
         augment=strong_augment, reduction='all'),
    dict(type='MaskedConsistency', mask_mode='tokens',
         mask_ratio=token_mask_ratio, augment=strong_augment,
         reduction='all'),
]
model = dict(
    type='BDL',
    segmentor=dict(
        type='EMATeacherSegmentor',
        segmentor=vfm_segmentor,
        discriminator=None,
        data_preprocessor=dict(
            type='UDADataPreProcessor', source=vit_data_preprocessor,
            target=vit_data_preprocessor),
        uda_cfg=dict(adversarial=False),
        # labels: argmax of the teacher's softmax averaged with its flipped
        # prediction, in train mode without dropout / drop-path; one weight
        # per batch (the share of pixels at probability >= 0.968), 0 on the
        # target's border mask (BorderIgnoreMask in the pipeline)
        ema_cfg=dict(pseudo_threshold=0.968, flip=True, teacher_mode='train',
                     ignore_mask=True),
        loss_terms=dict(uda=vfm_uda_terms)),
    # no F in the recipe itself; the BDL variants set it
    translator=None)

# ------------------------------------------------------------------ loop
# the plan replaces bdl_loop.py's paper plan (K, N, source-only switch)
train_cfg = dict(
    _delete_=True,
    type='BidirectionalTrainLoop',
    num_rounds=1,
    plan=dict(first=[], round=['uda']),
    phase_iters=dict(uda=max_iters),
    self_training='ema_teacher',
    init=dict(uda='continue'),
    val_interval=None,  # the release validates every 1,000 iterations
    headline='last',
    continue_from='last',
    val_after_phases=True,
    perceptual_from_segmentor=True,  # the BDL variants' F (M -> F)
    resume_image_pool=True)
# EMA after every step: alpha = min(1 - 1 / (t + 1), 0.999)
custom_hooks = [dict(type='EMATeacherHook', alpha=0.999, ramp=True)]

# ------------------------------------------------------------- optimizer
# AdamW, weight decay 0.01 on every parameter; head lr 5e-5 x sqrt(total
# batch), the ViT's blocks and stem 0.1x of it (layer decay 1.0). The
# release trains 4 GPUs x 2 images (the same total batch 8) in fp16 mixed
# precision (Lightning's '16-mixed'): AmpOptimWrapper, float16
head_lr = 5e-5 * (batch_size * num_gpus)**0.5
optim_wrapper = dict(
    segmentation=dict(
        constructor='MultiSubmoduleOptimWrapperConstructor',
        segmentor=dict(
            type='AmpOptimWrapper',
            dtype='float16',
            constructor='ViTLayerDecayOptimWrapperConstructor',
            optimizer=dict(type='AdamW', lr=head_lr, betas=(0.9, 0.999),
                           weight_decay=0.01),
            paramwise_cfg=dict(num_layers=12, decay_rate=1.0,
                               backbone_lr_mult=0.1))))
# 1,500 warm-up iterations from 1e-3, then linear to 0 at 40,000 (the
# release's table: the decay counts from iteration 0)
param_scheduler = dict(segmentation=[
    dict(type='WarmupLinearLR', start_factor=1e-3, warmup_iters=1500,
         total_iters=max_iters, by_epoch=False)
])
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=2000, max_keep_ckpts=2))
# the release's seed (seed_everything_default=42)
randomness = dict(seed=42)
