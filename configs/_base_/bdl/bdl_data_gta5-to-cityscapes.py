# The data of BDL from GTA5 to Cityscapes (see bdl_data.py): UDA batches of
# ../datasets/uda_gta5-to-cityscapes-1280x720-1024x512.py for the
# segmentation phases, unpaired GTA5 / Cityscapes images for F(k), and the
# hooks that write S'(k) and the pseudo-labels.
_base_ = [
    '../datasets/uda_gta5-to-cityscapes-1280x720-1024x512.py',
    './bdl_data.py',
]
# F(k): 20 CycleGAN epochs (lr schedule: ./bdl_translator.py); one epoch
# = ceil(24966 GTA5 images / batch 4)
cyclegan_iters_per_epoch = 6242
train_cfg = dict(phase_iters=dict(translation=20 * cyclegan_iters_per_epoch))
custom_hooks = [
    # S'(k) = F(k)(S) at the segmentation training size, after each F(k)
    dict(type='SourceTranslationHook', **_base_.translate_cfg),
    # T_ssl before each M_i(k): the release's class-wise median threshold
    # capped at 0.9 (policy='fixed' for the paper's 0.9); reads
    # pseudo_label_dataloader
    dict(type='PseudoLabelHook', policy='classwise_median'),
]
