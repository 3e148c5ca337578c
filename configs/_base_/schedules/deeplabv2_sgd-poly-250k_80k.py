# Segmentation schedule of BDL with DeepLab-v2 R101 (docs/method_facts.md,
# "Hyper-parameters"): SGD lr
# 2.5e-4, momentum 0.9, weight decay 5e-4, classifier (decode_head) 10x lr;
# discriminator Adam lr 1e-4, betas (0.9, 0.99); both with poly decay
# (power 0.9) over a 250k-iteration horizon, stopped at 80k iterations
# (adaptation / source-only) or 120k (self-training; the leaf sets it).
#
# The release's effective optimizer (default): its backbone parameter list
# repeats every parameter once per enclosing module (3x for bottleneck
# convs, 4x for shortcut convs) and PyTorch 0.4.0's SGD updated a parameter
# once per entry; RepeatedSGD with the repetitions derived from the module
# nesting reproduces that exactly (configs/bdl/README.md, "How the release
# differs from the paper"). The paper's plain SGD is one switch away:
#   optim_wrapper.segmentor.paramwise_cfg.repeat_modules=[]
poly_horizon = 250000
optim_wrapper = dict(
    constructor='MultiSubmoduleOptimWrapperConstructor',
    segmentor=dict(
        type='OptimWrapper',
        constructor='ReleaseParamListOptimWrapperConstructor',
        optimizer=dict(type='RepeatedSGD', lr=2.5e-4, momentum=0.9,
                       weight_decay=5e-4),
        paramwise_cfg=dict(
            custom_keys=dict(decode_head=dict(lr_mult=10.0)),
            repeat_modules=['backbone'])),
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
    visualization=dict(type='SegVisualizationHook'),
    # load_from must fit M; a random backbone is refused
    # (weights_check.allow_random_init=True to train one on purpose)
    weights_check=dict(type='WeightsCheckHook'))
