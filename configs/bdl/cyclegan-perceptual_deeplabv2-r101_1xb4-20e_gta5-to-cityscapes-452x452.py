# BDL translation model F for GTA5 -> Cityscapes (Eq. 2 of the paper):
# CycleGAN (9-block ResNet generators, 70x70 PatchGAN, LSGAN, image pool 50,
# cycle 10, identity 5) plus the perceptual loss of the frozen segmentor M
# (DeepLabV2-R101, Caffe normalisation), 0.1 (translation) and 10
# (reconstruction) per direction; random 452x452 crops of images resized to
# width 1024; Adam 2e-4, 20 epochs (10 constant + 10 linear decay).
#
# Standalone training needs M's weights, e.g. the source-only model:
#   python tools/train.py CONFIG --cfg-options \
#       model.perceptual_checkpoint=work_dirs/<source-only>/iter_XXXX.pth
# (model.perceptual_model=None trains a plain CycleGAN, as the release's
# first round may). Inside the BDL loop the current segmentor's weights are
# copied into M before every translation phase instead.
# Translate the source set afterwards with
#   python tools/translate.py CONFIG CHECKPOINT \
#       --out-dir data/gta5_translated
_base_ = [
    '../_base_/models/deeplabv2_r101.py',  # the segmentor M (`model`)
    '../_base_/models/cyclegan_perceptual.py',  # the translator (`translator`)
    '../_base_/datasets/unpaired_gta5-to-cityscapes.py',
    '../_base_/schedules/cyclegan_20e.py',
    '../_base_/default_runtime.py',
]
model = dict(_delete_=True, **_base_.translator)
model.update(perceptual_model=_base_.model, perceptual_checkpoint=None)

# 1 GPU x batch 4 = the release's 4 GPUs x 1; the 20 epochs in iterations
# (ceil(24966 GTA5 images / 4) = 6242 per epoch) are those of
# ../_base_/schedules/cyclegan_20e.py
train_dataloader = dict(batch_size=4)
custom_hooks = [dict(type='TranslationVisualizationHook', interval=1000)]
# generators/discriminators wrapped one by one (MMagic's choice); M has no
# trainable parameters and stays unwrapped
model_wrapper_cfg = dict(
    type='MMSeparateDistributedDataParallel',
    broadcast_buffers=False,
    find_unused_parameters=False)

# tools/translate.py defaults (and SourceTranslationHook arguments in BDL
# configs): the source images at the segmentation training size
translate_cfg = dict(
    img_dir='data/gta5/images',
    img_suffix='.png',
    scale=(1280, 720),
    batch_size=4)
