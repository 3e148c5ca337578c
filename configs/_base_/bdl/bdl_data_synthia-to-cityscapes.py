# The data of BDL from SYNTHIA-RAND-CITYSCAPES to Cityscapes: the GTA5
# recipe (bdl_data_gta5-to-cityscapes.py) with the SYNTHIA images and the
# SYNTHIA epoch length.
_base_ = [
    '../datasets/uda_synthia-to-cityscapes-1280x760-1024x512.py',
    './bdl_data.py',
]
# one CycleGAN epoch = ceil(9400 SYNTHIA images / batch 4)
cyclegan_iters_per_epoch = 2350
train_cfg = dict(
    phase_iters=dict(translation=20 * cyclegan_iters_per_epoch),
    phase_dataloaders=dict(
        translation=dict(
            dataset=dict(data_prefix=dict(source='synthia/RGB')))))
custom_hooks = [
    dict(type='SourceTranslationHook', **_base_.translate_cfg),
    dict(type='PseudoLabelHook', policy='classwise_median'),
]
