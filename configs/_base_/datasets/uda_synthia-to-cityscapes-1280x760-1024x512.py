# UDA batches SYNTHIA -> Cityscapes as in the BDL release (fixed resizes, no
# crop/flip); see uda_gta5-to-cityscapes-1280x720-1024x512.py.
_base_ = ['./synthia_1280x760.py']
uda_train_dataset = dict(
    type='UDADataset',
    source=_base_.synthia_train_dataset,
    target=_base_.cityscapes_target_dataset,
    translated_source_dir=None,
    pseudo_label_dir=None,
    seed=None)
# the loader settings of the source-only base, with UDA batches
train_dataloader = dict(dataset=dict(uda_train_dataset, _delete_=True))
translate_cfg = dict(
    img_dir='data/synthia/RGB', img_suffix='.png', scale=_base_.synthia_scale,
    batch_size=4)
