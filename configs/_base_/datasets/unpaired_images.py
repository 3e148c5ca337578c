# Unpaired source / Cityscapes images for the translator F (CycleGAN), as
# the BDL release trains it: every image resized to width 1024 (bicubic,
# aspect kept), then an independent random 452x452 crop per domain and a
# horizontal flip (CycleGAN's default augmentation). Keys img_source /
# img_target, the domains of PerceptualCycleGAN. Only the data set is
# defined here (source: GTA5; override data_prefix.source for another), so
# that both the translator configs (unpaired_*-to-cityscapes.py) and the
# translation phases of the BDL loop (../bdl/bdl_data.py) can inherit it.
unpaired_keys = ['img_source', 'img_target']
unpaired_pipeline = [
    dict(type='mmagic.LoadImageFromFile', key='img_source',
         channel_order='bgr'),
    dict(type='mmagic.LoadImageFromFile', key='img_target',
         channel_order='bgr'),
    dict(type='ResizeWidth', keys=unpaired_keys, width=1024,
         interpolation='bicubic', backend='pillow'),
    dict(type='mmagic.Crop', keys=unpaired_keys, crop_size=(452, 452),
         random_crop=True),
    dict(type='mmagic.Flip', keys=unpaired_keys, flip_ratio=0.5,
         direction='horizontal'),
    dict(type='mmagic.PackInputs', keys=unpaired_keys,
         data_keys=unpaired_keys)
]
unpaired_dataset = dict(
    type='UnpairedDataset',
    data_root='data',
    data_prefix=dict(
        source='gta5/images', target='cityscapes/leftImg8bit/train'),
    source_suffix='.png',
    target_suffix='_leftImg8bit.png',
    pipeline=unpaired_pipeline)
