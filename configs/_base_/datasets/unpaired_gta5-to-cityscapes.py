# Unpaired GTA5 / Cityscapes images for the translator F (CycleGAN), as the
# BDL release trains it (see unpaired_images.py).
_base_ = ['./unpaired_images.py']
train_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=_base_.unpaired_dataset)
