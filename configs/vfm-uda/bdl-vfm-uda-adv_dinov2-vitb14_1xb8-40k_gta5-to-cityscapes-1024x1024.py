# BDL on top of VFM-UDA, step 4: step 3 plus BDL's output-space adversarial
# term in M's phases on S' (Eq. 1 in M_0(1), Eq. 3 in M_i(1): lambda_adv
# 1e-3, D = the release's fully-convolutional discriminator trained with
# Adam 1e-4), so every part of BDL is on.
#   python tools/train.py \
#       configs/vfm-uda/bdl-vfm-uda-adv_dinov2-vitb14_1xb8-40k_gta5-to-cityscapes-1024x1024.py
_base_ = [
    './bdl-vfm-uda-offline_dinov2-vitb14_1xb8-40k_gta5-to-cityscapes-'
    '1024x1024.py'
]
model = dict(
    segmentor=dict(
        discriminator=dict(_delete_=True, type='FCDiscriminator',
                           num_classes=_base_.num_classes),
        uda_cfg=dict(adversarial=True, lambda_adv=1e-3),
        loss_terms=dict(
            adaptation=_base_.vfm_uda_terms + ['adversarial'],
            self_training=_base_.model.segmentor.loss_terms.self_training +
            ['adversarial'])))
optim_wrapper = dict(
    segmentation=dict(
        discriminator=dict(
            type='OptimWrapper',
            optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.99)))))
