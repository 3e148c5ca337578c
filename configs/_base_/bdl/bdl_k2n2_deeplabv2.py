# BDL with DeepLabV2-ResNet101 (REFERENCE.md, "Hyper-parameters"): the
# release's iteration budgets and optimizers for every phase kind.
_base_ = ['./bdl_loop.py']

# CycleGAN: 20 epochs, lr constant for 10 and linearly decayed to 0 over the
# last 10. One epoch = ceil(24966 GTA5 images / batch 4) = 6242 iterations
# (the SYNTHIA leaf configs restate it: ceil(9400 / 4) = 2350).
cyclegan_iters_per_epoch = 6242
# segmentation: poly lr (power 0.9) over a 250k-iteration horizon, stopped
# at 80k without self-training and at 120k with it (batch 1)
poly_horizon = 250000
train_cfg = dict(
    phase_iters=dict(
        source_only=80000,
        translation=20 * cyclegan_iters_per_epoch,
        adaptation=80000,
        self_training=120000))

# optimizers per phase kind; each entry is built for the sub-model the
# phase trains (BDL.translator or BDL.segmentor), with its own keys
optim_wrapper = dict(
    translation=dict(
        constructor='MultiSubmoduleOptimWrapperConstructor',
        generators=dict(
            type='OptimWrapper',
            optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999))),
        discriminators=dict(
            type='OptimWrapper',
            optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999)))),
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
param_scheduler = dict(
    translation=[
        dict(
            type='LinearLR',
            start_factor=1.0,
            end_factor=0.0,
            by_epoch=False,
            begin=10 * cyclegan_iters_per_epoch,
            end=20 * cyclegan_iters_per_epoch)
    ],
    segmentation=[
        dict(
            type='PolyLR',
            eta_min=0.0,
            power=0.9,
            begin=0,
            end=poly_horizon,
            by_epoch=False)
    ])
