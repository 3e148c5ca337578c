# The translator F of BDL for every backbone: MMagic's CycleGAN with the
# perceptual loss of M (`translator`, ../models/cyclegan_perceptual.py) and
# the optimizers and lr schedule of the translation phases (docs/
# method_facts.md, "Hyper-parameters"): Adam 2e-4, betas (0.5, 0.999), for
# the generators and for the discriminators; lr constant for the first half
# of the phase (10 of 20 CycleGAN epochs), then linear to 0 at its end. The
# schedule is relative to the phase (the loop turns relative_* fractions
# into iterations), so it fits any data set's epoch length and any
# train_cfg.phase_iters.translation. The backbone bases
# (bdl_k2n2_deeplabv2.py, bdl_k2n2_fcn8s-vgg16.py) add M and assemble BDL.
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
param_scheduler = dict(translation=[
    dict(
        type='LinearLR',
        start_factor=1.0,
        end_factor=0.0,
        by_epoch=False,
        relative_begin=0.5,
        relative_end=1.0)
])
