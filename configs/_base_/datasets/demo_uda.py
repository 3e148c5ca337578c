# Demo UDA batches (source GTA5 layout -> target Cityscapes layout, 128x64),
# plus what the BDL hooks read: the target train images for pseudo-labels
# and the source images to translate. See demo_target.py / demo_source.py.
_base_ = ['./demo_source.py']
demo_uda_dataset = dict(
    type='UDADataset',
    source={{_base_.demo_source_dataset}},
    target={{_base_.demo_target_dataset}},
    translated_source_dir=None,
    pseudo_label_dir=None,
    seed=None)
train_dataloader = dict(
    _delete_=True,
    batch_size=4,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=demo_uda_dataset)
pseudo_label_dataloader = dict(
    batch_size=4,
    num_workers=0,
    dataset=dict(
        type='CityscapesDataset',
        serialize_data=False,  # num_workers=0: no need (saves a gc pass)
        data_root={{_base_.demo_target_root}},
        data_prefix=dict(img_path='leftImg8bit/train'),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=(128, 64), keep_ratio=False,
                 interpolation='bicubic', backend='pillow'),
            dict(type='PackSegInputs')
        ]))
translate_cfg = dict(
    img_dir='data/demo/gta5/images', img_suffix='.png', scale=(128, 64),
    batch_size=8)
