# ACDC (fog, night, rain, snow) as a BDL target, in the 19 Cityscapes
# classes. Layout as distributed:
#   data/acdc/rgb_anon/{fog,night,rain,snow}/{train,val,test}/<seq>/
#       *_rgb_anon.png
#   data/acdc/gt/{fog,night,rain,snow}/{train,val}/<seq>/
#       *_gt_labelTrainIds.png   (check / write with
#   python tools/dataset_converters/acdc.py data/acdc --nproc 8)
# Images (1920x1080) are resized to 960x540 (half, the aspect kept); the
# val split is scored at the full label resolution (LoadAnnotations after
# Resize). Leaf configs pick the conditions (ACDCDataset.conditions).
acdc_data_root = 'data/acdc'
acdc_scale = (960, 540)  # (w, h)
acdc_target_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=acdc_scale, keep_ratio=False,
         interpolation='bicubic', backend='pillow'),
    dict(type='LoadPseudoLabel', num_classes=19),
    dict(type='PackBDLSegInputs')
]
acdc_pseudo_label_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=acdc_scale, keep_ratio=False,
         interpolation='bicubic', backend='pillow'),
    dict(type='PackSegInputs')
]
acdc_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=acdc_scale, keep_ratio=False,
         interpolation='bicubic', backend='pillow'),
    dict(type='LoadAnnotations'),  # full resolution
    dict(type='PackSegInputs')
]
# test-time augmentation (tools/test.py --tta): the test scale x 0.5 ...
# 1.75, each plain and flipped, as for Cityscapes
acdc_tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', keep_ratio=False, interpolation='bicubic',
              backend='pillow', scale=(round(acdc_scale[0] * r),
                                       round(acdc_scale[1] * r)))
         for r in [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]],
        [dict(type='RandomFlip', prob=0., direction='horizontal'),
         dict(type='RandomFlip', prob=1., direction='horizontal')],
        [dict(type='LoadAnnotations')],  # full resolution
        [dict(type='PackSegInputs')]
    ])
]
