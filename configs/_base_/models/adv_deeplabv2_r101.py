# BDL's segmentation model M with DeepLab-v2 R101: the plain segmentor of
# deeplabv2_r101.py wrapped for output-space adversarial training (Eq. 1)
# and self-training (Eq. 3) with the FCDiscriminator (2,781,121 parameters
# for 19 classes). lambda_adv = 1e-3 for ResNet-101. The inner segmentor is
# what val/test (and tools/test.py) use.
_base_ = ['./deeplabv2_r101.py']
model = dict(
    _delete_=True,
    type='AdvSelfTrainingSegmentor',
    segmentor=_base_.model,
    discriminator=dict(
        type='FCDiscriminator',
        num_classes=19,
        base_channels=64,
        channel_mults=(1, 2, 4, 8),
        negative_slope=0.2),
    # one SegDataPreProcessor per branch (source, target), both Caffe style
    data_preprocessor=dict(
        type='UDADataPreProcessor',
        source=_base_.data_preprocessor,
        target=_base_.data_preprocessor),
    uda_cfg=dict(
        adversarial=True,  # False: source-only M(0), no D step
        lambda_adv=1e-3,
        source_label=0.0,
        target_label=1.0,
        disc_loss_weight=0.5,  # each D term halved
        use_pseudo_labels=True,  # the pseudo-label role is Eq. 3's term
        pseudo_loss_weight=1.0,
        ignore_index=255,
        check_finite=True))
