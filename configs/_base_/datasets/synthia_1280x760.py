# SYNTHIA-RAND-CITYSCAPES as in the BDL release: images resized to 1280x760
# (bicubic, PIL), labels to 1280x760 (nearest), no crop, no flip; evaluated
# on Cityscapes val with mIoU16 / mIoU13.
# Labels: GT/LABELS/NNNNNNN_labelTrainIds.png, made by
#   python tools/dataset_converters/synthia.py data/synthia --nproc 8
_base_ = ['./cityscapes_1024x512.py']
synthia_data_root = 'data/synthia'
synthia_scale = (1280, 760)  # (w, h)
synthia_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=synthia_scale, keep_ratio=False,
         interpolation='bicubic', backend='pillow'),
    dict(type='PackSegInputs')
]
synthia_train_dataset = dict(
    type='SynthiaDataset',
    data_root=synthia_data_root,
    pipeline=synthia_train_pipeline)
train_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=synthia_train_dataset)
