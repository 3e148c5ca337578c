# MMSegmentation-style alternative to the release's fixed resize: random
# rescale (0.5-2.0 of 1024x512), 512x512 random crop, horizontal flip.
# Evaluation is unchanged (1024x512 input, full-resolution labels).
_base_ = ['./cityscapes_1024x512.py']
crop_size = (512, 512)  # (h, w)
cityscapes_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(1024, 512), ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
# pseudo-labels are loaded before the geometric transforms, which move them
# with the image (soft weights are not supported here: they would not move)
cityscapes_target_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPseudoLabel', num_classes=19),
    dict(type='RandomResize', scale=(1024, 512), ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),  # no labels needed
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackBDLSegInputs')
]
cityscapes_target_dataset = dict(pipeline=cityscapes_target_pipeline)
train_dataloader = dict(dataset=dict(pipeline=cityscapes_train_pipeline))
