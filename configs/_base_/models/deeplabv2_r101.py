# DeepLab-v2 ResNet-101 as released with BDL (docs/method_facts.md, "The
# released models"): 7x7 stem + 3x3/2 max-pool with ceil_mode, Caffe
# bottlenecks (stride in the first 1x1 conv), layer3 dilation 2, layer4
# dilation 4 (output stride 8: 512x256 in -> 65x33 logits), BatchNorm affine
# frozen but layers in train mode, classifier = sum of four 3x3 convs with
# dilations 6/12/18/24 initialised N(0, 0.01). 43,901,068 parameters,
# 43,795,724 trainable. Caffe normalisation: BGR (as loaded), minus the
# mean, no std. Logits are resized bilinearly with align_corners=True for
# the loss; test time resizes softmax probabilities straight to the label
# size (BDLEncoderDecoder, docs/method_facts.md "Evaluation").
#
# Initial weights (the release's): the backbone loads the ImageNet
# initialisation DeepLab_resnet_pretrained_init-f81d91e8.pth, converted from
# the release's key layout on load (`bdl://` scheme; its 1000-class layer5
# is dropped, the classifier keeps its N(0, 0.01) init). The file is looked
# for in $MMBDL_CHECKPOINTS, checkpoints/ and the torch hub cache before it
# is downloaded (docs/pretrained_weights.md); offline, put it at
# checkpoints/DeepLab_resnet_pretrained_init-f81d91e8.pth.
pretrained_backbone = dict(
    type='Pretrained',
    checkpoint='bdl://deeplabv2-resnet101-imagenet',
    prefix='backbone.')
norm_cfg = dict(type='BN', requires_grad=False)
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
        type='DeepLabV2ResNet',
        depth=101,
        base_channels=64,
        stem_channels=64,
        style='caffe',
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        out_indices=(3, ),
        stem_ceil_mode=True,
        contract_dilation=False,
        norm_cfg=norm_cfg,
        norm_eval=False,  # the release keeps BN in train mode
        init_cfg=pretrained_backbone),
    decode_head=dict(
        type='DeepLabV2Head',
        in_channels=2048,
        in_index=-1,
        num_classes=19,
        dilations=(6, 12, 18, 24),
        # 2: the release's defect (a misplaced return summed 2 of the 4
        # branches) in the code that trained its published checkpoints and
        # in its CycleGAN's perceptual model; release_checkpoint_segmentor
        # below sets it
        num_effective_branches=None,
        align_corners=True,
        loss_decode=dict(
            type='CrossEntropyLoss',
            use_sigmoid=False,
            loss_weight=1.0,
            avg_non_ignore=True)),  # mean over labelled pixels (release)
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))

# M as the release's published checkpoints and its CycleGAN perceptual model
# compute it: only 2 of the 4 ASPP branches summed (use it in configs that
# evaluate or load converted release checkpoints)
release_checkpoint_segmentor = dict(
    model, decode_head=dict(model['decode_head'], num_effective_branches=2))
