# The ViT-L/14 counterpart of bdl-vfm-uda-offline_dinov2-vitb14_...: the same
# phases, terms and F, with DINOv2 ViT-L/14 as M (and as F's perceptual
# model where F has one).
#   python tools/train.py \
#       configs/vfm-uda/bdl-vfm-uda-offline_dinov2-vitl14_1xb8-40k_gta5-to-cityscapes-1024x1024.py
_base_ = [
    './bdl-vfm-uda-offline_dinov2-vitb14_1xb8-40k_gta5-to-cityscapes-'
    '1024x1024.py',
    '../_base_/models/vfm-uda_dinov2-vitl14.py'
]
model = {{_base_.vitl14_model}}
optim_wrapper = {{_base_.vitl14_optim}}
