# Dark Zurich (night) as a BDL target, in the 19 Cityscapes classes. Layout
# as distributed:
#   data/dark_zurich/rgb_anon/train/night/<seq>/*_rgb_anon.png (unlabelled)
#   data/dark_zurich/rgb_anon/val/night/GOPR0356/*_rgb_anon.png
#   data/dark_zurich/gt/val/night/GOPR0356/*_gt_labelTrainIds.png
# (check / write with python tools/dataset_converters/dark_zurich.py
# data/dark_zurich). Images (1920x1080) are resized to 960x540; the 50
# labelled val images are scored at the full label resolution.
dark_zurich_data_root = 'data/dark_zurich'
dark_zurich_scale = (960, 540)  # (w, h)
dark_zurich_target_dataset = dict(
    type='DarkZurichDataset',
    data_root=dark_zurich_data_root,
    split='train',
    conditions='night',
    pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=dark_zurich_scale, keep_ratio=False,
             interpolation='bicubic', backend='pillow'),
        dict(type='LoadPseudoLabel', num_classes=19),
        dict(type='PackBDLSegInputs')
    ])
dark_zurich_pseudo_label_dataset = dict(
    type='DarkZurichDataset',
    data_root=dark_zurich_data_root,
    split='train',
    conditions='night',
    pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=dark_zurich_scale, keep_ratio=False,
             interpolation='bicubic', backend='pillow'),
        dict(type='PackSegInputs')
    ])
dark_zurich_val_dataset = dict(
    type='DarkZurichDataset',
    data_root=dark_zurich_data_root,
    split='val',
    pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=dark_zurich_scale, keep_ratio=False,
             interpolation='bicubic', backend='pillow'),
        dict(type='LoadAnnotations'),  # full resolution
        dict(type='PackSegInputs')
    ])
# test-time augmentation (tools/test.py --tta): the test scale x 0.5 ...
# 1.75, each plain and flipped, as for Cityscapes
dark_zurich_tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', keep_ratio=False, interpolation='bicubic',
              backend='pillow', scale=(round(dark_zurich_scale[0] * r),
                                       round(dark_zurich_scale[1] * r)))
         for r in [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]],
        [dict(type='RandomFlip', prob=0., direction='horizontal'),
         dict(type='RandomFlip', prob=1., direction='horizontal')],
        [dict(type='LoadAnnotations')],  # full resolution
        [dict(type='PackSegInputs')]
    ])
]
