# Unpaired SYNTHIA / Cityscapes images for the translator F (CycleGAN): the
# GTA5 recipe (unpaired_gta5-to-cityscapes.py) with the SYNTHIA images.
_base_ = ['./unpaired_gta5-to-cityscapes.py']
unpaired_dataset = dict(data_prefix=dict(source='synthia/RGB'))
train_dataloader = dict(dataset=unpaired_dataset)
