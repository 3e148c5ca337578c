# VFM-UDA with DINOv2 ViT-L/14 (the release reports 78.4 mIoU on
# Cityscapes val); everything else as the ViT-B/14 config.
#   python tools/train.py \
#       configs/vfm-uda/vfm-uda_dinov2-vitl14_1xb8-40k_gta5-to-cityscapes-1024x1024.py
_base_ = ['./vfm-uda_dinov2-vitb14_1xb8-40k_gta5-to-cityscapes-1024x1024.py']
vit_arch = 'vit-l14'
vit_embed_dims = 1024
vit_num_layers = 24
vit_checkpoint = 'bdl://dinov2-vitl14'
model = dict(
    segmentor=dict(
        segmentor=dict(
            backbone=dict(
                arch=vit_arch, init_cfg=dict(checkpoint=vit_checkpoint)),
            decode_head=dict(in_channels=vit_embed_dims))))
optim_wrapper = dict(
    segmentation=dict(
        segmentor=dict(paramwise_cfg=dict(num_layers=vit_num_layers))))
