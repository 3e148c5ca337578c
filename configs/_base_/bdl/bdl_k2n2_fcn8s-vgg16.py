# BDL with FCN8s-VGG16 (REFERENCE.md, "Hyper-parameters"): Adam 1e-5 for
# the segmentor (biases 2x), Adam 1e-6 for D, lr x0.1 every 50k iterations.
_base_ = ['./bdl_loop.py']

cyclegan_iters_per_epoch = 6242  # ceil(24966 GTA5 images / batch 4)
train_cfg = dict(
    phase_iters=dict(
        source_only=80000,
        translation=20 * cyclegan_iters_per_epoch,
        adaptation=80000,
        self_training=120000))

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
            optimizer=dict(type='Adam', lr=1e-5, betas=(0.9, 0.99)),
            paramwise_cfg=dict(bias_lr_mult=2.0)),
        discriminator=dict(
            type='OptimWrapper',
            optimizer=dict(type='Adam', lr=1e-6, betas=(0.9, 0.99)))))
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
    # the paper's "every 5000" is a typo for 50k (per the authors)
    segmentation=[
        dict(
            type='StepLR',
            step_size=50000,
            gamma=0.1,
            begin=0,
            end=120000,
            by_epoch=False)
    ])
