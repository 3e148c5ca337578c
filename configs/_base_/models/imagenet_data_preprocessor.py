# ImageNet normalisation (RGB mean / std) that MMSegmentation's ImageNet
# backbones expect (ResNet-V1c, MiT), as one SegDataPreProcessor for each
# UDA branch; the release's DeepLab/VGG models use the Caffe BGR mean of
# uda_data_preprocessor.py instead.
imagenet_data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    size_divisor=1,
    pad_val=0,
    seg_pad_val=255)
