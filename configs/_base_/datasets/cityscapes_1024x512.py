# Cityscapes as in the BDL release: images resized to 1024x512 (bicubic,
# PIL like the release), no crop, no flip. Evaluation predicts at 1024x512
# and scores at the full 2048x1024 label resolution (LoadAnnotations after
# Resize: the segmentor upsamples its probabilities to the label size).
# Labels: gtFine/*_gtFine_labelTrainIds.png, made by
#   python tools/dataset_converters/cityscapes.py data/cityscapes --nproc 8
cityscapes_type = 'CityscapesDataset'
cityscapes_data_root = 'data/cityscapes'
cityscapes_scale = (1024, 512)  # (w, h)
cityscapes_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=cityscapes_scale, keep_ratio=False,
         interpolation='bicubic', backend='pillow'),
    dict(type='PackSegInputs')
]
# target images of UDA training: no ground truth; pseudo-labels (and soft
# weights) when UDADataset has a pseudo_label_dir, else nothing
cityscapes_target_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=cityscapes_scale, keep_ratio=False,
         interpolation='bicubic', backend='pillow'),
    dict(type='LoadPseudoLabel', num_classes=19),
    dict(type='PackBDLSegInputs')
]
cityscapes_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=cityscapes_scale, keep_ratio=False,
         interpolation='bicubic', backend='pillow'),
    dict(type='LoadAnnotations'),  # full resolution
    dict(type='PackSegInputs')
]
# unlabelled target training set (UDA target branch, pseudo-labelling)
cityscapes_target_dataset = dict(
    type=cityscapes_type,
    data_root=cityscapes_data_root,
    data_prefix=dict(img_path='leftImg8bit/train'),
    pipeline=cityscapes_target_pipeline)
cityscapes_val_dataset = dict(
    type=cityscapes_type,
    data_root=cityscapes_data_root,
    data_prefix=dict(
        img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
    pipeline=cityscapes_test_pipeline)

# target training images as PseudoLabelHook / tools/pseudo_label.py read
# them (network input size, names relative to leftImg8bit/train)
pseudo_label_dataloader = dict(
    batch_size=1,
    num_workers=2,
    dataset=dict(
        type=cityscapes_type,
        data_root=cityscapes_data_root,
        data_prefix=dict(img_path='leftImg8bit/train'),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=cityscapes_scale, keep_ratio=False,
                 interpolation='bicubic', backend='pillow'),
            dict(type='PackSegInputs')
        ]))
# test-time augmentation (tools/test.py --tta; `tta_model` in
# ../default_runtime.py averages the probabilities): the test scale x 0.5
# ... 1.75 (MMSegmentation's Cityscapes ratios), each plain and flipped
tta_img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', keep_ratio=False, interpolation='bicubic',
              backend='pillow', scale=(round(cityscapes_scale[0] * r),
                                       round(cityscapes_scale[1] * r)))
         for r in tta_img_ratios],
        [dict(type='RandomFlip', prob=0., direction='horizontal'),
         dict(type='RandomFlip', prob=1., direction='horizontal')],
        [dict(type='LoadAnnotations')],  # full resolution
        [dict(type='PackSegInputs')]
    ])
]

# supervised (oracle) training on Cityscapes train
train_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=cityscapes_type,
        data_root=cityscapes_data_root,
        data_prefix=dict(
            img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
        pipeline=cityscapes_train_pipeline))
# the val split (500 images) is the BDL test set
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=cityscapes_val_dataset)
test_dataloader = val_dataloader
val_evaluator = dict(type='BDLIoUMetric')
test_evaluator = val_evaluator
