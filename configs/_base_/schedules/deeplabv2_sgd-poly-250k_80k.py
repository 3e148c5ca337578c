# Segmentation schedule of BDL with DeepLab-v2 R101 (REFERENCE.md): SGD lr
# 2.5e-4, momentum 0.9, weight decay 5e-4, classifier (decode_head) 10x lr;
# discriminator Adam lr 1e-4, betas (0.9, 0.99); both with poly decay
# (power 0.9) over a 250k-iteration horizon, stopped at 80k iterations
# (adaptation / source-only) or 120k (self-training; the leaf sets it).
poly_horizon = 250000
optim_wrapper = dict(
    constructor='MultiSubmoduleOptimWrapperConstructor',
    segmentor=dict(
        type='OptimWrapper',
        optimizer=dict(type='SGD', lr=2.5e-4, momentum=0.9,
                       weight_decay=5e-4),
        paramwise_cfg=dict(custom_keys=dict(decode_head=dict(lr_mult=10.0)))),
    discriminator=dict(
        type='OptimWrapper',
        optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.99))))
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=0.9,
        begin=0,
        end=poly_horizon,
        by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=80000,
                 val_interval=80000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5000,
                    max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
