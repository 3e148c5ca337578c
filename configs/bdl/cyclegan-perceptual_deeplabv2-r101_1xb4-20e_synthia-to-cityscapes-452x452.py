# BDL translation model F for SYNTHIA -> Cityscapes: the GTA5 config
# (cyclegan-perceptual_deeplabv2-r101_1xb4-20e_gta5-to-cityscapes-452x452.py,
# which describes the model and its training) with the SYNTHIA images.
# Translate the source set afterwards with
#   python tools/translate.py CONFIG CHECKPOINT \
#       --out-dir data/synthia_translated
_base_ = [
    './cyclegan-perceptual_deeplabv2-r101_1xb4-20e_gta5-to-cityscapes-452x452.py'  # noqa: E501
]
unpaired_dataset = dict(data_prefix=dict(source='synthia/RGB'))
train_dataloader = dict(dataset=unpaired_dataset)
# 20 epochs in iterations: ceil(9400 SYNTHIA images / 4) = 2350 per epoch
iters_per_epoch = 2350
train_cfg = dict(max_iters=20 * iters_per_epoch)
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0, end_factor=0.0, by_epoch=False,
         begin=10 * iters_per_epoch, end=20 * iters_per_epoch)
]
default_hooks = dict(checkpoint=dict(interval=iters_per_epoch))
# the source images at the segmentation training size
translate_cfg = dict(img_dir='data/synthia/RGB', scale=(1280, 760))
