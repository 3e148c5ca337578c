# Demo target domain (Cityscapes layout, 128x64 procedural street scenes,
# written by `python tools/make_demo_data.py`, default data/demo): the
# pipelines of cityscapes_1024x512.py at the demo size. This file trains on
# the labelled target train split (the "oracle" / target-trained model) and
# evaluates on the target val split.
demo_root = 'data/demo'
demo_scale = (128, 64)  # (w, h); source and target are drawn at this size
demo_target_root = demo_root + '/cityscapes'
demo_target_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=demo_scale, keep_ratio=False,
         interpolation='bicubic', backend='pillow'),
    dict(type='PackSegInputs')
]
# UDA target branch: no ground truth, pseudo-labels when configured
demo_target_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=demo_scale, keep_ratio=False,
         interpolation='bicubic', backend='pillow'),
    dict(type='LoadPseudoLabel', num_classes=19),
    dict(type='PackBDLSegInputs')
]
demo_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=demo_scale, keep_ratio=False,
         interpolation='bicubic', backend='pillow'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
# test-time augmentation (tools/test.py --tta), as in cityscapes_1024x512.py
tta_img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', keep_ratio=False, interpolation='bicubic',
              backend='pillow', scale=(round(demo_scale[0] * r),
                                       round(demo_scale[1] * r)))
         for r in tta_img_ratios],
        [dict(type='RandomFlip', prob=0., direction='horizontal'),
         dict(type='RandomFlip', prob=1., direction='horizontal')],
        [dict(type='LoadAnnotations')],
        [dict(type='PackSegInputs')]
    ])
]
demo_target_dataset = dict(
    type='CityscapesDataset',
    serialize_data=False,  # num_workers=0: no need (saves a gc pass)
    data_root=demo_target_root,
    data_prefix=dict(img_path='leftImg8bit/train'),
    pipeline=demo_target_pipeline)
demo_val_dataset = dict(
    type='CityscapesDataset',
    serialize_data=False,  # num_workers=0: no need (saves a gc pass)
    data_root=demo_target_root,
    data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
    pipeline=demo_test_pipeline)
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='CityscapesDataset',
        serialize_data=False,  # num_workers=0: no need (saves a gc pass)
        data_root=demo_target_root,
        data_prefix=dict(
            img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
        pipeline=demo_target_train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=demo_val_dataset)
test_dataloader = val_dataloader
# all 19 train ids (the demo draws 9 of them; absent ones are NaN, skipped)
val_evaluator = dict(type='BDLIoUMetric', num_classes=19)
test_evaluator = val_evaluator
