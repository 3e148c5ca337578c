# DINOv2 ViT-L/14 in place of ViT-B/14 in the VFM-UDA configs: the
# backbone, its checkpoint, the head's input width and the depth of the
# layer-wise lr rule. Each ViT-L/14 config of configs/vfm-uda inherits its
# ViT-B/14 counterpart and this file, and merges these in:
#   model = {{_base_.vitl14_model}}
#   optim_wrapper = {{_base_.vitl14_optim}}
vitl14_model = dict(
    segmentor=dict(
        segmentor=dict(
            backbone=dict(
                arch='vit-l14',
                init_cfg=dict(checkpoint='bdl://dinov2-vitl14')),
            decode_head=dict(in_channels=1024))))
vitl14_optim = dict(
    segmentation=dict(
        segmentor=dict(paramwise_cfg=dict(num_layers=24))))
