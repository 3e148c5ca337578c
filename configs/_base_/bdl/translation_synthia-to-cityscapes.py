# Dataloader of the translation phases F(k) of the BDL loop: the unpaired
# synthia / Cityscapes images of ../datasets/unpaired_synthia-to-cityscapes.py
# (width-1024 resize, random 452x452 crops, flip), under a name that does
# not collide with the UDA `train_dataloader` of the segmentation phases.
# Batch 4 on one GPU = the release's 4 GPUs x 1.
translation_keys = ['img_source', 'img_target']
translation_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='UnpairedDataset',
        data_root='data',
        data_prefix=dict(
            source='synthia/RGB', target='cityscapes/leftImg8bit/train'),
        source_suffix='.png',
        target_suffix='_leftImg8bit.png',
        pipeline=[
            dict(type='mmagic.LoadImageFromFile', key='img_source',
                 channel_order='bgr'),
            dict(type='mmagic.LoadImageFromFile', key='img_target',
                 channel_order='bgr'),
            dict(type='ResizeWidth', keys=translation_keys, width=1024,
                 interpolation='bicubic', backend='pillow'),
            dict(type='mmagic.Crop', keys=translation_keys,
                 crop_size=(452, 452), random_crop=True),
            dict(type='mmagic.Flip', keys=translation_keys, flip_ratio=0.5,
                 direction='horizontal'),
            dict(type='mmagic.PackInputs', keys=translation_keys,
                 data_keys=translation_keys)
        ]))
