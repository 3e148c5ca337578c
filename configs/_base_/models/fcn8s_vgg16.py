# FCN-8s VGG-16 (Caffe version) as used by BDL: conv1_1 padded by 100,
# ceil-mode pools, fc6 7x7 / fc7 1x1 convolutions with dropout, score layers
# on fc7, 0.01 * pool4 and 1e-4 * pool3, bilinear transposed convs (frozen,
# bias-free) with crops at 5 / 9 / 31; logits at the input resolution.
# 134,456,985 parameters for 19 classes. Same Caffe normalisation as the
# DeepLab model.
#
# Initial weights: torchvision's ImageNet VGG-16 (vgg16-397923af.pth; fc6 /
# fc7 reshaped to 7x7 / 1x1 convolutions, fc8 dropped) converted on load
# (`bdl://` scheme, docs/pretrained_weights.md). The release's own VGG-16
# "initial weights" (one file per source data set, a whole FCN-8s) are the
# alternative:
#   model.backbone.init_cfg.checkpoint=bdl://checkpoints/<release file>.pth
# (and the same with prefix='decode_head.' on the head for its score layers).
pretrained_backbone = dict(
    type='Pretrained', checkpoint='bdl://vgg16-imagenet', prefix='backbone.')
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[104.00699, 116.66877, 122.67891],  # BGR
    std=[1.0, 1.0, 1.0],
    bgr_to_rgb=False,
    size_divisor=1,  # training batches need size or size_divisor
    pad_val=0,
    seg_pad_val=255)
model = dict(
    type='BDLEncoderDecoder',
    data_preprocessor=data_preprocessor,
    resize_probs=True,
    backbone=dict(
        type='VGG16FCN',
        first_padding=100,
        fc_channels=4096,
        dropout_ratio=0.5,
        stage_channels=(64, 128, 256, 512, 512),
        init_cfg=pretrained_backbone),
    decode_head=dict(
        type='FCN8sHead',
        in_channels=(3, 256, 512, 4096),
        in_index=(0, 1, 2, 3),
        input_transform='multiple_select',
        num_classes=19,
        pool_scales=(0.01, 0.0001),
        crop_offsets=(5, 9, 31),
        freeze_upsampling=True,
        align_corners=True,
        loss_decode=dict(
            type='CrossEntropyLoss',
            use_sigmoid=False,
            loss_weight=1.0,
            avg_non_ignore=True)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
