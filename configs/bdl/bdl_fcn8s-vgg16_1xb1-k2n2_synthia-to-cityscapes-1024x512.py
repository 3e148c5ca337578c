# BDL (Algorithm 1, K=2, N=2) with FCN-8s VGG-16,
# SYNTHIA -> Cityscapes, in one command:
#   python tools/train.py \
#       configs/bdl/bdl_fcn8s-vgg16_1xb1-k2n2_synthia-to-cityscapes-1024x512.py
# Phases (the release's budgets): M(0) source-only 80k iterations; for
# k = 1, 2: F(k) 20 CycleGAN epochs, S'(k) written, M_0(k) 80k (Eq. 1),
# then twice: pseudo-labels, M_i(k) 120k (Eq. 3). Round table:
# work_dirs/<this config>/bdl_rounds.md. Initialise the backbone with the
# converted ImageNet weights (tools/model_converters/bdl_to_mmbdl.py) via
# load_from; every phase with init='initial' restarts from them.
_base_ = [
    '../_base_/models/adv_fcn8s_vgg16.py',  # M: `model`
    '../_base_/models/cyclegan_perceptual.py',  # F: `translator`
    '../_base_/models/uda_data_preprocessor.py',
    '../_base_/datasets/uda_synthia-to-cityscapes-1280x760-1024x512.py',
    '../_base_/bdl/translation_synthia-to-cityscapes.py',
    '../_base_/bdl/bdl_k2n2_fcn8s-vgg16.py',
    '../_base_/default_runtime.py',
]
# M with the UDA pre-processor (Caffe normalisation per branch); F's
# perceptual model is M's inference segmentor, whose weights the loop copies
# in before every translation phase
bdl_segmentor = dict(_base_.model)
bdl_segmentor.update(data_preprocessor=_base_.uda_data_preprocessor)
bdl_translator = dict(_base_.translator)
bdl_translator.update(
    perceptual_model=_base_.model.segmentor, perceptual_checkpoint=None)
model = dict(
    _delete_=True,
    type='BDL',
    segmentor=bdl_segmentor,
    translator=bdl_translator)
train_cfg = dict(
    phase_dataloaders=dict(translation=_base_.translation_dataloader))
custom_hooks = [
    # S'(k) = F(k)(S) at the segmentation training size, after each F(k)
    dict(
        type='SourceTranslationHook',
        img_dir=_base_.translate_cfg.img_dir,
        img_suffix=_base_.translate_cfg.img_suffix,
        scale=_base_.translate_cfg.scale,
        batch_size=_base_.translate_cfg.batch_size),
    # T_ssl before each M_i(k): the release's class-wise median threshold
    # capped at 0.9 (policy='fixed' for the paper's 0.9); reads
    # pseudo_label_dataloader
    dict(type='PseudoLabelHook', policy='classwise_median'),
]
train_cfg.update(
    phase_iters=dict(
        source_only=80000, translation=20 * 2350, adaptation=80000,
        self_training=120000))
param_scheduler = dict(
    translation=[
        dict(
            type='LinearLR',
            start_factor=1.0,
            end_factor=0.0,
            by_epoch=False,
            begin=10 * 2350,
            end=20 * 2350)
    ])
