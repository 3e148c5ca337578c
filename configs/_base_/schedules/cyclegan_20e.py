# CycleGAN schedule of BDL (docs/method_facts.md): Adam lr 2e-4, betas
# (0.5, 0.999) for the generators and the discriminators; 20 epochs, the lr
# constant for the first 10 and decayed linearly to 0 over the last 10.
#
# Like MMagic's CycleGAN configs the schedule counts iterations: one epoch is
# iters_per_epoch = ceil(len(unpaired data set) / total batch size), where
# the unpaired data set is as long as its larger (source) side. The numbers
# below are for GTA5 (24,966 images) with a total batch of 4 (the release:
# 4 GPUs x 1): ceil(24966 / 4) = 6242 iterations per epoch. Configs for
# other data sets restate iters_per_epoch, train_cfg and param_scheduler.
iters_per_epoch = 6242
constant_epochs = 10
decay_epochs = 10
optim_wrapper = dict(
    constructor='MultiSubmoduleOptimWrapperConstructor',
    generators=dict(
        type='OptimWrapper',
        optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999))),
    discriminators=dict(
        type='OptimWrapper',
        optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999))))
# constant lr until `begin` (no scheduler acts before it), then linear to 0
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1.0,
        end_factor=0.0,
        by_epoch=False,
        begin=constant_epochs * iters_per_epoch,  # 62420
        end=(constant_epochs + decay_epochs) * iters_per_epoch)  # 124840
]
train_cfg = dict(
    type='IterBasedTrainLoop',
    max_iters=(constant_epochs + decay_epochs) * iters_per_epoch)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=iters_per_epoch,
        max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'))
