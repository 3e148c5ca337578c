# Demo source domain (GTA5 layout, 128x64): source-only training, evaluated
# on the demo target val split. See demo_target.py.
_base_ = ['./demo_target.py']
demo_source_root = 'data/demo/gta5'
demo_source_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=(128, 64), keep_ratio=False,
         interpolation='bicubic', backend='pillow'),
    dict(type='PackSegInputs')
]
demo_source_dataset = dict(
    type='GTA5Dataset',
    serialize_data=False,  # num_workers=0: no need (saves a gc pass)
    data_root=demo_source_root,
    pipeline=demo_source_train_pipeline)
train_dataloader = dict(
    _delete_=True,
    batch_size=4,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=demo_source_dataset)
