# BDL on top of VFM-UDA, step 1: the translated source S' = F(S) from a
# plain CycleGAN (no perceptual loss). M(0) is the VFM-UDA recipe itself
# (40k iterations on the original source); F(1) is trained (BDL's 20
# CycleGAN epochs), S'(1) written at GTA5's own size, and M_0(1) (BDL's
# adaptation phase) continues 40k iterations of the same recipe on S'(1)
# and the target, its EMA teacher restarted from M(0). The comparison with
# the recipe alone also holds the extra 40k iterations: the control is the
# recipe at 80k (--cfg-options train_cfg.phase_iters.uda=80000),
# docs/vfm_uda.md.
#   python tools/train.py \
#       configs/vfm-uda/bdl-vfm-uda-cyclegan_dinov2-vitb14_1xb8-40k_gta5-to-cityscapes-1024x1024.py
_base_ = ['./vfm-uda_dinov2-vitb14_1xb8-40k_gta5-to-cityscapes-1024x1024.py']
# F's crops: the multiple of 14 next to the release's 452, as the DINOv2
# BDL configs (the perceptual variant runs M on them)
translation_crop_size = (448, 448)
cyclegan_iters_per_epoch = 6242  # ceil(24,966 GTA5 images / batch 4)
model = dict(
    translator=dict(_base_.translator, _delete_=True,
                    perceptual_model=None),
    # the recipe's terms in M's phase on S' (BDL's adaptation phase; the
    # EMA teacher labels its target batches)
    segmentor=dict(loss_terms=dict(adaptation=_base_.vfm_uda_terms)))
train_cfg = dict(
    plan=dict(first=['uda'], round=['translation', 'adaptation']),
    phase_iters=dict(
        uda=_base_.max_iters,
        translation=20 * cyclegan_iters_per_epoch,
        adaptation=_base_.max_iters),
    init=dict(translation='initial', adaptation='continue'),
    phase_dataloaders=dict(
        translation=dict(
            batch_size=4,
            num_workers=4,
            persistent_workers=True,
            sampler=dict(type='InfiniteSampler', shuffle=True),
            dataset=dict(
                _base_.unpaired_dataset,
                pipeline=[
                    dict(t, crop_size=translation_crop_size)
                    if t['type'] == 'mmagic.Crop' else t
                    for t in _base_.unpaired_pipeline
                ]))))
custom_hooks = [
    # the teacher restarts from M before both M phases and follows M in
    # them (its ramp restarts with each phase)
    dict(type='EMATeacherHook', alpha=0.999, ramp=True,
         kinds=['uda', 'adaptation']),
    # S'(k) at GTA5's own size (the recipe's pipeline rescales it)
    dict(type='SourceTranslationHook', img_dir='data/gta5/images',
         img_suffix='.png', scale=None, batch_size=4),
]
