# BDL translation model F: MMagic's CycleGAN plus the segmentation perceptual
# loss (docs/method_facts.md, "Losses"). Defines `translator` rather than
# `model`, so a config can inherit it next to a segmentation model base
# (which defines `model`); translator leaf configs do
# `model = dict(_delete_=True, **translator, perceptual_model=...)`-style
# merges (see configs/bdl/cyclegan-perceptual_*.py).
#
# Domains are 'source' and 'target': generators['target'] is F (source ->
# target, used to translate the source set), generators['source'] is F^-1.
translator = dict(
    type='PerceptualCycleGAN',
    # [-1, 1] RGB images: (pixel - 127.5) / 127.5 after BGR -> RGB
    data_preprocessor=dict(
        type='mmagic.DataPreprocessor',
        mean=127.5,
        std=127.5,
        output_channel_order='RGB',
        data_keys=['img_source', 'img_target']),
    # 9-block ResNet generator (two stride-2 down/up samplings, IN)
    generator=dict(
        type='mmagic.ResnetGenerator',
        in_channels=3,
        out_channels=3,
        base_channels=64,
        norm_cfg=dict(type='IN'),
        use_dropout=False,
        num_blocks=9,
        padding_mode='reflect'),  # init: N(0, 0.02), MMagic's default
    # 70x70 PatchGAN (3 stride-2 convs); MMagic's CycleGAN uses LSGAN (MSE)
    discriminator=dict(
        type='mmagic.PatchDiscriminator',
        in_channels=3,
        base_channels=64,
        num_conv=3,
        norm_cfg=dict(type='IN')),  # init: N(0, 0.02), MMagic's default
    default_domain='target',
    reachable_domains=['source', 'target'],
    related_domains=['source', 'target'],
    buffer_size=50,  # image pool
    # lambda_recon (cycle) 10; identity 5.0: MMagic's id_loss_weight is
    # absolute (the original CycleGAN's 0.5 x lambda_cycle 10)
    loss_config=dict(cycle_loss_weight=10.0, id_loss_weight=5.0),
    # the frozen segmentor M; None trains a plain CycleGAN
    perceptual_model=None,
    perceptual_checkpoint=None,
    # released code: mean((IN(M(a)) - IN(M(b)))^2), weights 0.1 (translation)
    # and 10 (reconstruction) per direction; loss_type='l1' is the paper's L1
    perceptual_loss_cfg=dict(
        loss_type='mse_in', lambda_per=0.1, lambda_per_recon=10.0),
    num_classes=19)
