# GTA5 as in the BDL release: images resized to 1280x720 (bicubic, PIL),
# labels to 1280x720 (nearest), no crop, no flip; evaluated on Cityscapes
# val (source-only training).
# Labels: labels/NNNNN_labelTrainIds.png, made by
#   python tools/dataset_converters/gta5.py data/gta5 --nproc 8
_base_ = ['./cityscapes_1024x512.py']
gta5_data_root = 'data/gta5'
gta5_scale = (1280, 720)  # (w, h)
gta5_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=gta5_scale, keep_ratio=False,
         interpolation='bicubic', backend='pillow'),
    dict(type='PackSegInputs')
]
gta5_train_dataset = dict(
    type='GTA5Dataset',
    data_root=gta5_data_root,
    # the fixed resize of image and label keeps the few GTA5 images that
    # differ in size from their label usable; they are listed at build time
    size_mismatch='warn',
    pipeline=gta5_train_pipeline)
train_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=gta5_train_dataset)
