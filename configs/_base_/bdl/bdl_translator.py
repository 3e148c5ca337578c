# The translator F of BDL for every backbone: MMagic's CycleGAN with the
# perceptual loss of M (`translator`, ../models/cyclegan_perceptual.py) and
# the release's optimizers of the translation phases (Adam 2e-4, betas
# (0.5, 0.999), for the generators and for the discriminators). The
# backbone bases (bdl_k2n2_deeplabv2.py, bdl_k2n2_fcn8s-vgg16.py) add M and
# assemble the BDL model; F's lr schedule counts CycleGAN epochs of the data
# and comes with it (bdl_data_*.py, `translation_param_scheduler`).
_base_ = ['../models/cyclegan_perceptual.py']
optim_wrapper = dict(
    translation=dict(
        constructor='MultiSubmoduleOptimWrapperConstructor',
        generators=dict(
            type='OptimWrapper',
            optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999))),
        discriminators=dict(
            type='OptimWrapper',
            optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999)))))
