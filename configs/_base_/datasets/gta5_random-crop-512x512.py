# MMSegmentation-style alternative to the release's fixed resize for GTA5:
# random rescale (0.5-2.0 of 1280x720), 512x512 random crop, flip. Images
# whose label has another size are skipped (a random crop cannot realign
# them); evaluation on Cityscapes val is unchanged.
_base_ = ['./cityscapes_random-crop-512x512.py']
gta5_data_root = 'data/gta5'
gta5_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(1280, 720), ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=(512, 512), cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
gta5_train_dataset = dict(
    type='GTA5Dataset',
    data_root=gta5_data_root,
    size_mismatch='skip',
    pipeline=gta5_train_pipeline)
train_dataloader = dict(
    _delete_=True,
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=gta5_train_dataset)
