# The DINOv2 ViT-B/14 BDL config with ViT-L/14 (24 blocks of width 1024,
# 304M parameters): the same loop, head, recipe and crops; the head is
# VFM-UDA's width for ViT-L (1024 / 4). F's perceptual pass through ViT-L is
# the largest memory item of F's step: its blocks are checkpointed one by
# one (the translator's perceptual_memory_saving, on by default).
#   python tools/train.py \
#       configs/bdl/bdl_dinov2-vitl14_1xb1-k2n2_gta5-to-cityscapes-504x504.py
# Weights: dinov2_vitl14_pretrain.pth (docs/vision_foundation_models.md).
_base_ = ['./bdl_dinov2-vitb14_1xb1-k2n2_gta5-to-cityscapes-504x504.py']
vit_arch = 'vit-l14'
vit_embed_dims = 1024
vit_num_layers = 24
vit_checkpoint = 'bdl://dinov2-vitl14'
model = dict(
    segmentor=dict(
        segmentor=dict(
            backbone=dict(
                arch=vit_arch,
                init_cfg=dict(checkpoint=vit_checkpoint)),
            decode_head=dict(
                in_channels=vit_embed_dims,
                channels=vit_embed_dims // 4))))
optim_wrapper = dict(
    segmentation=dict(
        segmentor=dict(paramwise_cfg=dict(num_layers=vit_num_layers))))
