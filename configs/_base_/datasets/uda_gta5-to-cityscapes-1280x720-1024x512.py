# UDA batches GTA5 -> Cityscapes as in the BDL release (fixed resizes, no
# crop/flip): each GTA5 image (1280x720) with a random Cityscapes train
# image (1024x512) in the branch format of UDADataset. The BDL loop injects
# `translated_source_dir` (S'(k)) and `pseudo_label_dir` (T_ssl) into the
# UDADataset config of each phase.
_base_ = ['./gta5_1280x720.py']
uda_train_dataset = dict(
    type='UDADataset',
    source={{_base_.gta5_train_dataset}},
    target={{_base_.cityscapes_target_dataset}},
    translated_source_dir=None,
    pseudo_label_dir=None,
    seed=None)
train_dataloader = dict(
    _delete_=True,
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=uda_train_dataset)
# target training images as PseudoLabelHook / tools/pseudo_label.py read
# them (network input size, names relative to leftImg8bit/train)
pseudo_label_dataloader = dict(
    batch_size=1,
    num_workers=2,
    dataset=dict(
        type='CityscapesDataset',
        data_root={{_base_.cityscapes_data_root}},
        data_prefix=dict(img_path='leftImg8bit/train'),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=(1024, 512), keep_ratio=False,
                 interpolation='bicubic', backend='pillow'),
            dict(type='PackSegInputs')
        ]))
# source images to translate (SourceTranslationHook / tools/translate.py),
# at the source training size
translate_cfg = dict(
    img_dir='data/gta5/images', img_suffix='.png', scale=(1280, 720),
    batch_size=4)
