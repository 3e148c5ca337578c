# The CycleGAN schedule with the release's per-epoch lr rule instead of the
# per-iteration linear decay: the release (cyclegan/networks.py, lr policy
# 'lambda', epoch_count 1) multiplies the lr by
# 1 - max(0, epoch + 2 - 10) / 11 once per epoch (epochs from 0): 9 epochs
# at 2e-4, then 10/11 ... 1/11 and 0 in the last of 20 epochs.
# CycleGANEpochDecayLR steps it per epoch of iters_per_epoch iterations.
# Inside a BDL config (phase-relative: 20 epochs whatever phase_iters is)
#   param_scheduler = dict(translation=[dict(
#       type='CycleGANEpochDecayLR', relative_iters_per_epoch=1 / 20)])
_base_ = ['./cyclegan_20e.py']
param_scheduler = [
    dict(
        type='CycleGANEpochDecayLR',
        iters_per_epoch={{_base_.iters_per_epoch}},
        constant_epochs={{_base_.constant_epochs}},
        decay_epochs={{_base_.decay_epochs}},
        epoch_count=1,
        by_epoch=False)
]
