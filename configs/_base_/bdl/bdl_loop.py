# The bidirectional loop of BDL (Algorithm 1): K outer rounds of
#   translation F(k) -> [S'(k) written] -> adaptation M_0(k) (Eq. 1)
#   -> N x ([pseudo-labels] -> self-training M_i(k) (Eq. 3)),
# after an optional source-only M(0). Backbone-specific bases
# (bdl_k2n2_deeplabv2.py, bdl_k2n2_fcn8s-vgg16.py) add the iteration budgets,
# optimizers and lr schedules; leaf configs add the model and the data.
train_cfg = dict(
    type='BidirectionalTrainLoop',
    num_rounds=2,  # K (paper: 2)
    num_ssl_rounds=2,  # N (paper: 2)
    source_only=True,  # train M(0) first: F(1) gets its perceptual loss
    # per phase kind: 'continue' from the current weights or 'initial'
    # (the weights the run started from: ImageNet backbone, random head).
    # The release trains every segmentation model from the ImageNet weights
    # and retrains M for each self-training round; each CycleGAN is trained
    # from scratch with the latest M as its perceptual model.
    init=dict(
        source_only='initial',
        translation='initial',
        adaptation='initial',
        self_training='initial'),
    val_after_phases=True,  # target val after each segmentation phase
    perceptual_from_segmentor=True,  # M(k-1) -> F(k)'s perceptual model
    resume_image_pool=True)  # CycleGAN image pools survive a resume
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# averages the gradients of every optimizer (segmentor, D, both generators,
# both CycleGAN discriminators) over ranks; see
# mmbdl/models/wrappers/bdl_distributed_data_parallel.py
model_wrapper_cfg = dict(type='BDLDistributedDataParallel')

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # iteration checkpoints for resuming; the loop also writes one checkpoint
    # per phase, named after it (k1_adaptation.pth, ...)
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=5000,
        max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'),
    # tools/test.py, MMSegmentation's test.py and `mim test` refuse a
    # checkpoint that lacks part of M (allow_partial=True evaluates it with
    # a warning); the loop checks the training loads itself
    weights_check=dict(type='WeightsCheckHook', check_training=False))
randomness = dict(seed=0)
