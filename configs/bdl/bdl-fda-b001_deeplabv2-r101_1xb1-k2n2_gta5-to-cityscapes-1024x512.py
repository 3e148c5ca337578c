# BDL (K=2, N=2) with DeepLab-v2 ResNet-101, GTA5 -> Cityscapes, with FDA
# (beta 0.01) as the translator F instead of the perceptual CycleGAN:
#   python tools/train.py \
#       configs/bdl/bdl-fda-b001_deeplabv2-r101_1xb1-k2n2_gta5-to-cityscapes-1024x512.py
# (-b005 / -b009: the release's other two beta). FDA does not train, so the
# loop plans no translation phase: M(0) source-only, then for k = 1, 2 the
# adaptation phase M_0(k) and two self-training phases, the budgets of the
# CycleGAN config. As the FDA release trains, FDA runs online: in every
# iteration of the adaptation and self-training phases each source image
# (1280x720) takes the amplitude of the same batch's random Cityscapes
# training image (1024x512, resized to 1280x720); M(0) trains on the
# original source images. No S' is written (translate_source=False, no
# SourceTranslationHook). The offline mode (S' written once after M(0), one
# random target image per source image) is in docs/translators.md.
_base_ = [
    './bdl_deeplabv2-r101_1xb1-k2n2_gta5-to-cityscapes-1024x512.py',
    '../_base_/models/fda.py',
]
model = dict(translator=dict(_delete_=True, **_base_.fda_translator))
train_cfg = dict(
    phase_iters=dict(
        _delete_=True, source_only=80000, adaptation=80000,
        self_training=120000),
    init=dict(
        _delete_=True,
        source_only='initial',
        adaptation='initial',
        self_training='initial'),
    phase_dataloaders=dict(_delete_=True),
    # FDA translates every batch itself (translator online=True)
    translate_source=False)
optim_wrapper = dict(_delete_=True, segmentation=_base_.optim_wrapper[
    'segmentation'])
param_scheduler = dict(
    _delete_=True,
    segmentation=_base_.param_scheduler['segmentation'],
    self_training=_base_.param_scheduler['self_training'])
# no S' to write: the online translator translates every batch
custom_hooks = [
    h for h in _base_.custom_hooks if h['type'] != 'SourceTranslationHook'
]
