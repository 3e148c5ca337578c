# UDA batches SYNTHIA -> Cityscapes as in the BDL release (fixed resizes, no
# crop/flip); see uda_gta5-to-cityscapes-1280x720-1024x512.py.
_base_ = ['./synthia_1280x760.py']
uda_train_dataset = dict(
    type='UDADataset',
    source={{_base_.synthia_train_dataset}},
    target={{_base_.cityscapes_target_dataset}},
    translated_source_dir=None,
    pseudo_label_dir=None,
    seed=None)
train_dataloader = dict(
    _delete_=True,
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=uda_train_dataset)
pseudo_label_dataloader = dict(
    batch_size=1,
    num_workers=2,
    dataset=dict(
        type='CityscapesDataset',
        data_root={{_base_.cityscapes_data_root}},
        data_prefix=dict(img_path='leftImg8bit/train'),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=(1024, 512), keep_ratio=False,
                 interpolation='bicubic', backend='pillow'),
            dict(type='PackSegInputs')
        ]))
translate_cfg = dict(
    img_dir='data/synthia/RGB', img_suffix='.png', scale=(1280, 760),
    batch_size=4)
