# BDL on top of VFM-UDA, step 2: F(1) with BDL's perceptual loss, its
# perceptual model M(0) (the VFM-UDA model, copied into F before the
# translation phase; ViT blocks recomputed one by one to save memory).
# Everything else as step 1, so the difference is the perceptual loss.
#   python tools/train.py \
#       configs/vfm-uda/bdl-vfm-uda-perceptual_dinov2-vitb14_1xb8-40k_gta5-to-cityscapes-1024x1024.py
_base_ = [
    './bdl-vfm-uda-cyclegan_dinov2-vitb14_1xb8-40k_gta5-to-cityscapes-'
    '1024x1024.py'
]
model = dict(
    translator=dict(
        # M's architecture; its input resize follows F's 448 crops by the
        # recipe's rule (int(448 * 1.1) // 14 * 14 = 490)
        perceptual_model=dict(
            _delete_=True,
            follow_segmentor=True,
            backbone=dict(
                input_resize=int(_base_.translation_crop_size[0] * 1.1) //
                14 * 14)),
        perceptual_memory_saving=True))
