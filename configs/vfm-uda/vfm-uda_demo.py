# The VFM-UDA recipe on the demo data (`make demo`'s 128x64 scenes) with
# the tiny ViT of configs/bdl/bdl_demo_vit.py: the recipe's step (weakly
# jittered source CE, the EMA teacher's flip-averaged labels, class-mix
# with the strong augmentation, token-masked consistency at ratio 0.7,
# the EMA ramp) and its light head, on 64x64 crops (the tiny ViT's
# 8-pixel patches: int(1.1 * 64) // 8 * 8 = 64, so no resize) with sliding
# 64x64 evaluation. What it does not take from the recipe: DINOv2 weights
# (the tiny ViT starts from random weights) and so the recipe's small
# learning rates for a pretrained ViT; it trains with the demo's optimizer
# (Adam 2e-3, poly) for as many M iterations as bdl_demo_vit.py's five
# segmentation phases (1,100 at batch 4). docs/vfm_uda.md compares them.
#   python tools/train.py configs/vfm-uda/vfm-uda_demo.py \
#       --work-dir work_dirs/vfm-uda_demo
_base_ = ['../bdl/bdl_demo_vit.py']
crop = 64
demo_crop = dict(type='RandomCrop', crop_size=(crop, crop))
flip = dict(type='RandomFlip', prob=0.5)
weak_jitter = dict(brightness=32 / 255, contrast=0.5, saturation=0.5,
                   hue=18 / 360, p=0.9)
strong_augment = dict(brightness=0.2, contrast=0.2, saturation=0.2,
                      hue=0.2, p=0.8, blur_p=0.5, blur_sigma=(0.15, 1.15))
vfm_uda_terms = [
    dict(type='SourceCE', augment=weak_jitter),
    dict(type='ClassMix', classes='batch', target_augment=weak_jitter,
         augment=strong_augment, reduction='all'),
    dict(type='MaskedConsistency', mask_mode='tokens', mask_ratio=0.7,
         augment=strong_augment, reduction='all'),
]
model = dict(
    segmentor=dict(
        type='EMATeacherSegmentor',
        discriminator=None,
        uda_cfg=dict(_delete_=True, adversarial=False),
        ema_cfg=dict(pseudo_threshold=0.968, flip=True, teacher_mode='train',
                     ignore_mask=True),
        loss_terms=dict(uda=vfm_uda_terms),
        segmentor=dict(
            backbone=dict(with_mask_token=True, input_resize=crop),
            decode_head=dict(
                _delete_=True,
                type='VFMLightHead',
                in_channels=64,
                num_classes=_base_.num_classes,
                align_corners=False,
                loss_decode=dict(
                    type='CrossEntropyLoss', use_sigmoid=False,
                    loss_weight=1.0, avg_non_ignore=True)),
            test_cfg=dict(mode='slide', crop_size=(crop, crop),
                          stride=(crop // 2, crop // 2)))),
    translator=None)
train_dataloader = dict(
    dataset=dict(
        source=dict(pipeline=_base_.demo_source_train_pipeline[:-1] +
                    [demo_crop, flip, dict(type='PackSegInputs')]),
        target=dict(pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=_base_.demo_scale, keep_ratio=False,
                 interpolation='bicubic', backend='pillow'),
            dict(type='BorderIgnoreMask'),
            demo_crop,
            # MMSeg's flip moves every segmentation map (the border mask)
            dict(type='SegFieldsRandomFlip', prob=0.5),
            dict(type='PackSegInputsWithIgnoreMask')
        ])))
train_cfg = dict(
    _delete_=True,
    type='BidirectionalTrainLoop',
    num_rounds=1,
    plan=dict(first=[], round=['uda']),
    phase_iters=dict(uda=1100),
    self_training='ema_teacher',
    init=dict(uda='continue'),
    val_after_phases=True,
    val_interval=None,
    headline='last',
    continue_from='last',
    allow_random_init=True)
optim_wrapper = dict(_delete_=True, segmentation=dict(
    constructor='MultiSubmoduleOptimWrapperConstructor',
    segmentor=dict(type='OptimWrapper',
                   optimizer=dict(type='Adam', lr=2e-3, betas=(0.9, 0.99)))))
param_scheduler = dict(_delete_=True, segmentation=[
    dict(type='PolyLR', eta_min=0.0, power=0.9, by_epoch=False)
])
# the recipe's ramp, to 0.99 instead of 0.999 (a ~100-iteration memory for
# a 1,100-iteration phase, as bdl_demo_ema.py's 200-iteration phases)
custom_hooks = [dict(type='EMATeacherHook', alpha=0.99, ramp=True)]
