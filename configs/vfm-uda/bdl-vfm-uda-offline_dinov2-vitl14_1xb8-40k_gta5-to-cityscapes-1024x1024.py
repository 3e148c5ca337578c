# The ViT-L/14 counterpart of bdl-vfm-uda-offline_dinov2-vitb14_...: the same
# phases, terms and F, with DINOv2 ViT-L/14 as M (and as F's perceptual
# model where F has one).
#   python tools/train.py \
#       configs/vfm-uda/bdl-vfm-uda-offline_dinov2-vitl14_1xb8-40k_gta5-to-cityscapes-1024x1024.py
_base_ = [
    './bdl-vfm-uda-offline_dinov2-vitb14_1xb8-40k_gta5-to-cityscapes-'
    '1024x1024.py'
]
vit_num_layers = 24
model = dict(
    segmentor=dict(
        segmentor=dict(
            backbone=dict(
                arch='vit-l14',
                init_cfg=dict(checkpoint='bdl://dinov2-vitl14')),
            decode_head=dict(in_channels=1024))))
optim_wrapper = dict(
    segmentation=dict(
        segmentor=dict(paramwise_cfg=dict(num_layers=vit_num_layers))))
