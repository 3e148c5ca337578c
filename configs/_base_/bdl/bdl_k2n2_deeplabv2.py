# The BDL model with DeepLab-v2 ResNet-101 and the optimizers and lr
# schedules of its segmentation phases (docs/method_facts.md,
# "Hyper-parameters"). M is `model` of ../models/adv_deeplabv2_r101.py (with
# D and its UDA pre-processor); F is the translator of bdl_translator.py
# with M's inference segmentor as its perceptual model (the loop copies M's
# weights into it before every translation phase). Leaves add the data
# (bdl_data_*.py).
_base_ = ['../models/adv_deeplabv2_r101.py', './bdl_translator.py']
model = dict(_delete_=True, type='BDL', segmentor=_base_.model,
             translator=dict(_base_.translator,
                             perceptual_model=dict(follow_segmentor=True)))

# M: the release's effective SGD (RepeatedSGD: the release's backbone
# parameter list repeats parameters, see
# ../schedules/deeplabv2_sgd-poly-250k_80k.py; plain SGD with
# optim_wrapper.segmentation.segmentor.paramwise_cfg.repeat_modules=[]),
# lr 2.5e-4, the classifier (ASPP head) 10x; D: Adam 1e-4
optim_wrapper = dict(
    segmentation=dict(
        constructor='MultiSubmoduleOptimWrapperConstructor',
        segmentor=dict(
            type='OptimWrapper',
            constructor='ReleaseParamListOptimWrapperConstructor',
            optimizer=dict(
                type='RepeatedSGD', lr=2.5e-4, momentum=0.9,
                weight_decay=5e-4),
            paramwise_cfg=dict(
                custom_keys=dict(decode_head=dict(lr_mult=10.0)),
                repeat_modules=['backbone'])),
        discriminator=dict(
            type='OptimWrapper',
            optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.99)))))
# poly lr (power 0.9) over a 250k-iteration horizon, stopped at the phase's
# end: 80k iterations without self-training (horizon 3.125 x the phase),
# 120k with it; relative to each phase, so shortened phases keep the shape
poly_horizon = 250000
param_scheduler = dict(
    segmentation=[
        dict(type='PolyLR', eta_min=0.0, power=0.9, by_epoch=False,
             begin=0, relative_end=poly_horizon / 80000)
    ],
    self_training=[
        dict(type='PolyLR', eta_min=0.0, power=0.9, by_epoch=False,
             begin=0, relative_end=poly_horizon / 120000)
    ])
