# Demo unpaired images for the translator: whole 128x64 demo images (the
# demo's stand-in for the release's width-1024 resize and 452x452 crops),
# horizontal flip, keys img_source / img_target.
unpaired_keys = ['img_source', 'img_target']
demo_unpaired_pipeline = [
    dict(type='mmagic.LoadImageFromFile', key='img_source',
         channel_order='bgr'),
    dict(type='mmagic.LoadImageFromFile', key='img_target',
         channel_order='bgr'),
    dict(type='ResizeWidth', keys=unpaired_keys, width=128,
         interpolation='bicubic', backend='pillow'),
    dict(type='mmagic.Flip', keys=unpaired_keys, flip_ratio=0.5,
         direction='horizontal'),
    dict(type='mmagic.PackInputs', keys=unpaired_keys,
         data_keys=unpaired_keys)
]
demo_unpaired_dataset = dict(
    type='UnpairedDataset',
    data_root='data/demo',
    data_prefix=dict(
        source='gta5/images', target='cityscapes/leftImg8bit/train'),
    source_suffix='.png',
    target_suffix='_leftImg8bit.png',
    pipeline=demo_unpaired_pipeline)
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=demo_unpaired_dataset)
