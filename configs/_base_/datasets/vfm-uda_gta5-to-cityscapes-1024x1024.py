# UDA batches GTA5 -> Cityscapes with the VFM-UDA release's data recipe
# (its UDATransform, RareClassSamplerDataset and ResizeAndCropTransform):
# - GTA5 (source): short side 1440 x U(0.9, 1.1), ratio kept; a 1024x1024
#   crop drawn by rare-class sampling (T = 0.05); horizontal flip 0.5.
# - Cityscapes (target): border ignore mask on the image as loaded (3% top,
#   left, right; 25% bottom: no pseudo-label weight there), short side
#   1024 x U(0.9, 1.1), 1024x1024 crop (padded to 1024x1024 with 255 in the
#   mask where the scaled image is shorter), flip 0.5. The mask reaches the
#   target data sample as `ignore_mask` (PackSegInputsWithIgnoreMask).
# - Cityscapes val: short side 1024, full-resolution labels; the model's
#   test_cfg (not set here) is the release's sliding window, 1024x1024
#   crops with stride 512: test_cfg=dict(mode='slide', crop_size=(1024,
#   1024), stride=(512, 512)).
# Resizes use PIL bilinear (nearest for maps), as the release's torchvision
# resize of PIL images. The release flips each sample with p 0.5 in its
# training step (after the crop) and does not flip the target's ignore mask
# with it (which differs only where a crop holds a left/right border); here
# the mask is flipped with the image. Its colour augmentation belongs to
# the model side.
_base_ = ['./uda_gta5-to-cityscapes_random-crop-512x512.py']
crop_size = (1024, 1024)  # (h, w); the release's img_size 1024
vfm_scale_range = (0.9, 1.1)  # the release's min_scale, max_scale
# short sides: the release's int(1440 * in_img_scale) for GTA5 and
# int(1024 * in_img_scale) for Cityscapes (in_img_scale = 1.0); the long
# side bound (4x) never binds, so the short side sets the scale
gta5_short_side = 1440
cityscapes_short_side = 1024
vfm_resize = dict(keep_ratio=True, interpolation='bilinear',
                  backend='pillow')

gta5_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize',
         scale=(4 * gta5_short_side, gta5_short_side),
         ratio_range=vfm_scale_range, **vfm_resize),
    # the release's RCS crop condition: cat_max_ratio 0.75 (its
    # RareClassSamplerDataset); the rare-class pixel condition is
    # UDADataset's re-crop (min_pixels * min_crop_ratio below)
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),  # the release's flip probability
    dict(type='PackSegInputs')
]
gta5_train_dataset = dict(
    type='GTA5Dataset',
    data_root=_base_.gta5_data_root,
    # a random crop cannot realign an image and a label of other sizes
    size_mismatch='skip',
    pipeline=gta5_train_pipeline)

cityscapes_target_pipeline = [
    dict(type='LoadImageFromFile'),
    # the release's pseudo_weight_ignore_{top,bottom,left,right}
    dict(type='BorderIgnoreMask', top=0.03, bottom=0.25, left=0.03,
         right=0.03),
    # no-op unless UDADataset has a pseudo_label_dir (BDL phases)
    dict(type='LoadPseudoLabel', num_classes=19),
    dict(type='SegFieldsRandomResize',
         scale=(4 * cityscapes_short_side, cityscapes_short_side),
         ratio_range=vfm_scale_range, **vfm_resize),
    # the release crops the target without the class-ratio condition
    # (cat_max_ratio 1.0: Cityscapes is not a source)
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=1.0),
    # the release pads to the crop size (image 0, mask 255)
    dict(type='SegFieldsPad', size=crop_size[::-1],
         pad_val=dict(img=0, seg=255)),
    dict(type='SegFieldsRandomFlip', prob=0.5),
    dict(type='PackSegInputsWithIgnoreMask')
]
cityscapes_target_dataset = dict(_base_.cityscapes_target_dataset,
                                 pipeline=cityscapes_target_pipeline)

uda_train_dataset = dict(
    type='UDADataset',
    source=gta5_train_dataset,
    target=cityscapes_target_dataset,
    translated_source_dir=None,
    pseudo_label_dir=None,
    seed=None,
    # the release's rcs_class_temp 0.05 and rcs_min_pixels 3000; its crop
    # condition n > rcs_min_pixels * crop^2 / (512 * 1024) gives
    # min_crop_ratio = 1024 * 1024 / (512 * 1024) = 2.0
    rare_class_sampling=dict(temperature=0.05, min_pixels=3000,
                             min_crop_ratio=2.0))
train_dataloader = dict(
    batch_size=8,  # the release's batch_size (1 GPU)
    num_workers=4,  # the release's train_num_workers
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(uda_train_dataset, _delete_=True))

# validation: the release's ResizeAndCropTransform scales the short side to
# 1024; Cityscapes images (2048x1024) keep their size. scale=(2048, 1024)
# with keep_ratio is that short side for any image up to 2:1
cityscapes_test_scale = (2 * cityscapes_short_side, cityscapes_short_side)
cityscapes_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=cityscapes_test_scale, **vfm_resize),
    dict(type='LoadAnnotations'),  # full resolution
    dict(type='PackSegInputs')
]
cityscapes_val_dataset = dict(pipeline=cityscapes_test_pipeline)
val_dataloader = dict(
    batch_size=1,  # the release's val_batch_size
    dataset=dict(pipeline=cityscapes_test_pipeline))
test_dataloader = val_dataloader
# pseudo-labelling reads the target images at the test scale
pseudo_label_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=cityscapes_test_scale, **vfm_resize),
    dict(type='PackSegInputs')
]))
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', keep_ratio=False, interpolation='bilinear',
              backend='pillow',
              scale=(round(cityscapes_test_scale[0] * r),
                     round(cityscapes_test_scale[1] * r)))
         for r in _base_.tta_img_ratios],
        [dict(type='RandomFlip', prob=0., direction='horizontal'),
         dict(type='RandomFlip', prob=1., direction='horizontal')],
        [dict(type='LoadAnnotations')],  # full resolution
        [dict(type='PackSegInputs')]
    ])
]
