# BDL on top of VFM-UDA, step 3: step 2 plus BDL's output-space adversarial
# term in M's phase on S' (Eq. 1: lambda_adv 1e-3, D = the release's
# fully-convolutional discriminator trained with Adam 1e-4).
#   python tools/train.py \
#       configs/vfm-uda/bdl-vfm-uda-adv_dinov2-vitb14_1xb8-40k_gta5-to-cityscapes-1024x1024.py
_base_ = [
    './bdl-vfm-uda-perceptual_dinov2-vitb14_1xb8-40k_gta5-to-cityscapes-'
    '1024x1024.py'
]
model = dict(
    segmentor=dict(
        discriminator=dict(_delete_=True, type='FCDiscriminator',
                           num_classes=_base_.num_classes),
        uda_cfg=dict(adversarial=True, lambda_adv=1e-3),
        loss_terms=dict(
            self_training=_base_.vfm_uda_terms + ['adversarial'])))
optim_wrapper = dict(
    segmentation=dict(
        discriminator=dict(
            type='OptimWrapper',
            optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.99)))))
