# Segmentation schedule of BDL with FCN-8s VGG-16 (docs/method_facts.md,
# "Hyper-parameters"): Adam lr
# 1e-5, betas (0.9, 0.99), biases 2x lr (the frozen bilinear upsampling is
# not trained); discriminator Adam lr 1e-6, betas (0.9, 0.99); lr x0.1 every
# 50k iterations for both (the paper's "5000" is a typo). Stopped at 80k
# iterations (adaptation / source-only) or 120k (self-training).
optim_wrapper = dict(
    constructor='MultiSubmoduleOptimWrapperConstructor',
    segmentor=dict(
        type='OptimWrapper',
        optimizer=dict(type='Adam', lr=1e-5, betas=(0.9, 0.99)),
        paramwise_cfg=dict(bias_lr_mult=2.0)),
    discriminator=dict(
        type='OptimWrapper',
        optimizer=dict(type='Adam', lr=1e-6, betas=(0.9, 0.99))))
param_scheduler = [
    dict(type='StepLR', step_size=50000, gamma=0.1, begin=0,
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
    visualization=dict(type='SegVisualizationHook'),
    # load_from must fit M; a random backbone is refused
    # (weights_check.allow_random_init=True to train one on purpose)
    weights_check=dict(type='WeightsCheckHook'))
