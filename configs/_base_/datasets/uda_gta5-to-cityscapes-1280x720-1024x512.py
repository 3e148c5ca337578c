# UDA batches GTA5 -> Cityscapes as in the BDL release (fixed resizes, no
# crop/flip): each GTA5 image (1280x720) with a random Cityscapes train
# image (1024x512) in the branch format of UDADataset. The BDL loop injects
# `translated_source_dir` (S'(k)) and `pseudo_label_dir` (T_ssl) into the
# UDADataset config of each phase.
_base_ = ['./gta5_1280x720.py']
uda_train_dataset = dict(
    type='UDADataset',
    source=_base_.gta5_train_dataset,
    target=_base_.cityscapes_target_dataset,
    translated_source_dir=None,
    pseudo_label_dir=None,
    seed=None)
# the loader settings of the source-only base, with UDA batches
train_dataloader = dict(dataset=dict(uda_train_dataset, _delete_=True))
# source images to translate (SourceTranslationHook / tools/translate.py),
# at the source training size
translate_cfg = dict(
    img_dir='data/gta5/images', img_suffix='.png', scale=_base_.gta5_scale,
    batch_size=4)
