# Caffe-style normalisation of the released DeepLab/VGG models
# (docs/method_facts.md, "Hyper-parameters"): images stay BGR (as loaded
# by OpenCV), the BGR mean is subtracted and nothing is divided (std 1).
# size_divisor=1 pads a training batch to its largest image
# (SegDataPreProcessor needs `size` or `size_divisor` in training); with
# the fixed-resize pipelines all images of a branch have the same size, so
# nothing is padded.
seg_data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[104.00699, 116.66877, 122.67891],  # B, G, R
    std=[1.0, 1.0, 1.0],
    bgr_to_rgb=False,
    size_divisor=1,
    pad_val=0,
    seg_pad_val=255)
# one SegDataPreProcessor per UDA branch; val/test/pseudo-label batches (no
# branches) go through `target`
uda_data_preprocessor = dict(
    type='UDADataPreProcessor',
    source=seg_data_preprocessor,
    target=seg_data_preprocessor)
