# The BDL model with DeepLab-v2 ResNet-101 and the release's optimizers and
# lr schedule of its segmentation phases. M is `model` of
# ../models/adv_deeplabv2_r101.py (with D and its UDA pre-processor); F is
# the translator of bdl_translator.py with M's inference segmentor as its
# perceptual model (the loop copies M's weights into it before every
# translation phase). Leaves add the data (bdl_data_*.py).
_base_ = ['../models/adv_deeplabv2_r101.py', './bdl_translator.py']
model = dict(_delete_=True, type='BDL', segmentor=_base_.model,
             translator=dict(_base_.translator,
                             perceptual_model=_base_.model.segmentor))

# segmentation: poly lr (power 0.9) over a 250k-iteration horizon, stopped
# at 80k without self-training and at 120k with it (batch 1)
poly_horizon = 250000
# each entry is built for the sub-model the phase trains (BDL.segmentor)
optim_wrapper = dict(
    segmentation=dict(
        constructor='MultiSubmoduleOptimWrapperConstructor',
        segmentor=dict(
            type='OptimWrapper',
            optimizer=dict(
                type='SGD', lr=2.5e-4, momentum=0.9, weight_decay=5e-4),
            # the classifier (ASPP head) learns 10x faster
            paramwise_cfg=dict(
                custom_keys=dict(decode_head=dict(lr_mult=10.0)))),
        discriminator=dict(
            type='OptimWrapper',
            optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.99)))))
# schedulers count each phase's own iterations from 0
param_scheduler = dict(segmentation=[
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=0.9,
        begin=0,
        end=poly_horizon,
        by_epoch=False)
])
