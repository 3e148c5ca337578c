# BDL end to end on the demo data (`make demo`): Algorithm 1 with K=2, N=1
# and a source-only M(0) first, on 128x64 procedural street scenes (source:
# GTA5 layout, 200 images; target: Cityscapes layout, 120 train + 60 val
# images whose brightness, white balance and haze vary per image; written
# by `python tools/make_demo_data.py`), with a small ResNet-18-style
# DeepLab-v2 and a small CycleGAN, sized for at most 5 minutes on a 2-core
# machine (one thread; `make demo`'s measured time is in the README).
#   python tools/train.py configs/bdl/bdl_demo.py --work-dir work_dirs/bdl_demo
# The round table (work_dirs/bdl_demo/bdl_rounds.md) is printed at the end.
# Over seeds / what each part adds (README, docs/demo.md):
#   python tools/analysis/multi_seed.py configs/bdl/bdl_demo.py --seeds 0 1 2
#   python tools/analysis/ablation.py configs/bdl/bdl_demo.py --seeds 0 1 2
_base_ = [
    '../_base_/models/cyclegan_perceptual.py',  # `translator`
    '../_base_/models/uda_data_preprocessor.py',
    '../_base_/datasets/demo_uda.py',  # UDA batches, target val, hooks' data
    '../_base_/bdl/bdl_loop.py',
    '../_base_/default_runtime.py',
]
num_classes = 19

# ---------------------------------------------------------------- models
# M: a small DeepLab-v2 (ResNet-18-style backbone with 16 base channels,
# output stride 8, dilated classifier) with the output-space discriminator
demo_segmentor = dict(
    type='BDLEncoderDecoder',
    data_preprocessor={{_base_.seg_data_preprocessor}},
    resize_probs=True,
    backbone=dict(
        type='ResNetV1c',
        depth=18,
        stem_channels=16,
        base_channels=16,
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        out_indices=(3, ),
        norm_cfg=dict(type='BN', requires_grad=True),
        contract_dilation=True),
    decode_head=dict(
        type='DeepLabV2Head',
        in_channels=128,
        in_index=0,
        num_classes=num_classes,
        dilations=(1, 2, 3, 4),
        align_corners=True,
        loss_decode=dict(
            type='CrossEntropyLoss',
            use_sigmoid=False,
            loss_weight=1.0,
            avg_non_ignore=True)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
demo_translator = dict(_base_.translator)
demo_translator.update(
    # the release's architectures, narrower and shallower
    generator=dict(_base_.translator.generator, base_channels=8,
                   num_blocks=2),
    discriminator=dict(_base_.translator.discriminator, base_channels=8),
    # F's perceptual model is built from M's inference segmentor config
    perceptual_model=dict(follow_segmentor=True),
    perceptual_checkpoint=None,
    # one graph through G and M per step, no recomputed generator blocks:
    # at 128x64 memory is no concern, and the memory-saving path is 1.6x
    # slower on 2 cores (0.40 vs 0.25 s per F iteration); the generator
    # checkpointing another ~10% (same gradients, same run to the digit).
    # The paper configs keep all three savings
    perceptual_memory_saving=False,
    generator_micro_batch=0,
    generator_checkpointing=False,
    num_classes=num_classes)
model = dict(
    type='BDL',
    segmentor=dict(
        type='AdvSelfTrainingSegmentor',
        segmentor=demo_segmentor,
        discriminator=dict(
            type='FCDiscriminator', num_classes=num_classes,
            base_channels=16),
        data_preprocessor={{_base_.uda_data_preprocessor}},
        uda_cfg=dict(lambda_adv=1e-3)),
    translator=demo_translator)

# ------------------------------------------------------------------ loop
train_cfg = dict(
    num_rounds=2,
    num_ssl_rounds=1,
    source_only=True,
    # F gets the longest phase: measured on the demo (seed 0), F at 150
    # iterations left M_0(1) at 33.0 mIoU and the perceptual loss cost 2.4;
    # at 400 iterations M_0(1) reached 40.9 and the loss added 2.2. Round 2
    # continues F(1) for 150 more (docs/demo.md, "What was changed for this
    # demo")
    phase_iters=dict(
        source_only=300, translation=[400, 150], adaptation=200,
        self_training=200),
    # evaluate at the end of each segmentation phase only: the periodic
    # evaluation cost about 10 s of the demo's time and changes no result
    # (tested). `--cfg-options train_cfg.val_interval=100` brings back the
    # round table's best-on-val column with <phase>_best.pth. The headline
    # is the last iteration (choosing the best needs target labels), and
    # later phases continue from it (headline / continue_from='best'
    # switch either)
    val_interval=None,
    headline='last',
    continue_from='last',
    # the demo's small M trains from scratch (no ImageNet weights offline)
    allow_random_init=True,
    # short phases: build on the previous weights instead of restarting
    init=dict(
        source_only='initial',
        translation='continue',
        adaptation='continue',
        self_training='continue'),
    phase_dataloaders=dict(
        translation=dict(
            batch_size=2,
            num_workers=0,
            sampler=dict(type='InfiniteSampler', shuffle=True),
            dataset=dict(
                type='UnpairedDataset',
                data_root='data/demo',
                data_prefix=dict(
                    source='gta5/images',
                    target='cityscapes/leftImg8bit/train'),
                source_suffix='.png',
                target_suffix='_leftImg8bit.png',
                pipeline=[
                    dict(type='mmagic.LoadImageFromFile', key='img_source',
                         channel_order='bgr'),
                    dict(type='mmagic.LoadImageFromFile', key='img_target',
                         channel_order='bgr'),
                    dict(type='mmagic.Flip',
                         keys=['img_source', 'img_target'],
                         flip_ratio=0.5, direction='horizontal'),
                    dict(type='mmagic.PackInputs',
                         keys=['img_source', 'img_target'],
                         data_keys=['img_source', 'img_target'])
                ]))))
optim_wrapper = dict(
    translation=dict(
        constructor='MultiSubmoduleOptimWrapperConstructor',
        generators=dict(
            type='OptimWrapper',
            optimizer=dict(type='Adam', lr=1e-3, betas=(0.5, 0.999))),
        discriminators=dict(
            type='OptimWrapper',
            optimizer=dict(type='Adam', lr=1e-3, betas=(0.5, 0.999)))),
    segmentation=dict(
        constructor='MultiSubmoduleOptimWrapperConstructor',
        segmentor=dict(
            type='OptimWrapper',
            optimizer=dict(type='Adam', lr=2e-3, betas=(0.9, 0.99))),
        discriminator=dict(
            type='OptimWrapper',
            optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.99)))))
param_scheduler = dict(
    translation=[
        dict(type='LinearLR', start_factor=1.0, end_factor=0.0,
             by_epoch=False, relative_begin=0.5)
    ],
    segmentation=[
        dict(type='PolyLR', eta_min=0.0, power=0.9, by_epoch=False)
    ])

# ----------------------------------------------------------------- hooks
custom_hooks = [
    dict(
        type='SourceTranslationHook',
        img_dir=_base_.translate_cfg.img_dir,
        img_suffix='.png',
        scale=_base_.translate_cfg.scale,
        batch_size=8,
        num_workers=2),
    # the release's class-wise median threshold, as in the paper configs:
    # on demo data version 3 (3 seeds) self-training gained +1.8 with it
    # (3 of 3 seeds) and +0.6 with the paper's fixed 0.9 (2 of 3); on
    # version 2 the fixed 0.9 was better (docs/demo.md, "What was changed
    # for this demo")
    dict(type='PseudoLabelHook', policy='classwise_median'),  # progress bar
]
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=100, max_keep_ckpts=1),
    visualization=dict(type='SegVisualizationHook', draw=False))
env_cfg = dict(cudnn_benchmark=False)
