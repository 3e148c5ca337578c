# UDA batches GTA5 -> Cityscapes with the MMSegmentation-style random
# rescale / 512x512 crop / flip on both branches (not the release's recipe;
# soft pseudo-label weights need the fixed-resize variant). Translated source
# images (S') are read at the size the translator wrote them and then
# augmented like the originals.
_base_ = ['./gta5_random-crop-512x512.py']
uda_train_dataset = dict(
    type='UDADataset',
    source=_base_.gta5_train_dataset,
    target=_base_.cityscapes_target_dataset,
    translated_source_dir=None,
    pseudo_label_dir=None,
    seed=None)
# the loader settings of the source-only base, with UDA batches
train_dataloader = dict(dataset=dict(uda_train_dataset, _delete_=True))
