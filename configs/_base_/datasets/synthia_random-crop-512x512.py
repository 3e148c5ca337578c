# MMSegmentation-style alternative to the release's fixed resize for
# SYNTHIA: random rescale (0.5-2.0 of 1280x760), 512x512 random crop, flip.
_base_ = ['./cityscapes_random-crop-512x512.py']
synthia_data_root = 'data/synthia'
synthia_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(1280, 760), ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=(512, 512), cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
synthia_train_dataset = dict(
    type='SynthiaDataset',
    data_root=synthia_data_root,
    pipeline=synthia_train_pipeline)
train_dataloader = dict(
    _delete_=True,
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=synthia_train_dataset)
