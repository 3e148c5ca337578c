# The BDL model with FCN-8s VGG-16 (see bdl_k2n2_deeplabv2.py) and the
# release's segmentation optimizers: Adam 1e-5 for the segmentor (biases
# 2x), Adam 1e-6 for D, lr x0.1 every 50k iterations (the paper's "every
# 5000" is a typo per the authors): 0.625 of an 80k phase, 50k / 120k of a
# self-training phase.
_base_ = ['../models/adv_fcn8s_vgg16.py', './bdl_translator.py']
model = dict(_delete_=True, type='BDL', segmentor=_base_.model,
             translator=dict(_base_.translator,
                             perceptual_model=dict(follow_segmentor=True)))
optim_wrapper = dict(
    segmentation=dict(
        constructor='MultiSubmoduleOptimWrapperConstructor',
        segmentor=dict(
            type='OptimWrapper',
            optimizer=dict(type='Adam', lr=1e-5, betas=(0.9, 0.99)),
            paramwise_cfg=dict(bias_lr_mult=2.0)),
        discriminator=dict(
            type='OptimWrapper',
            optimizer=dict(type='Adam', lr=1e-6, betas=(0.9, 0.99)))))
lr_step = 50000
param_scheduler = dict(
    segmentation=[
        dict(type='StepLR', gamma=0.1, by_epoch=False, begin=0,
             relative_step_size=lr_step / 80000)
    ],
    self_training=[
        dict(type='StepLR', gamma=0.1, by_epoch=False, begin=0,
             relative_step_size=lr_step / 120000)
    ])
