# VFM-UDA with DINOv2 ViT-L/14 (the release reports 78.4 mIoU on
# Cityscapes val); everything else as the ViT-B/14 config.
#   python tools/train.py \
#       configs/vfm-uda/vfm-uda_dinov2-vitl14_1xb8-40k_gta5-to-cityscapes-1024x1024.py
_base_ = [
    './vfm-uda_dinov2-vitb14_1xb8-40k_gta5-to-cityscapes-1024x1024.py',
    '../_base_/models/vfm-uda_dinov2-vitl14.py'
]
model = {{_base_.vitl14_model}}
optim_wrapper = {{_base_.vitl14_optim}}
