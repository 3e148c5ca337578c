# TEMPLATE: BDL (K=2, N=2, DeepLab-v2 ResNet-101) from GTA5 to your own
# unlabelled target images. Recipe: docs/target_domains.md.
#   1. put the images below one folder (sub-folders are fine), e.g.
#      data/own_target/images/**/*.jpg, all of one size or resized by
#      own_target_scale below;
#   2. set own_target_root / own_target_dir / own_target_suffix /
#      own_target_scale (or pass them with --cfg-options);
#   3. python tools/train.py \
#          configs/bdl/bdl_deeplabv2-r101_1xb1-k2n2_gta5-to-own-target.py
# Without target labels nothing is evaluated: the round table lists the
# phases and the SSL pixel ratios only; evaluate a phase checkpoint later
# with tools/test.py and a labelled config. The classes are the 19
# Cityscapes classes of the source; a target set with other classes is
# refused with both lists side by side.
_base_ = ['./bdl_deeplabv2-r101_1xb1-k2n2_gta5-to-cityscapes-1024x512.py']
own_target_root = 'data/own_target'
own_target_dir = 'images'
own_target_suffix = '.jpg'
own_target_scale = (1024, 512)  # (w, h) the network input
own_target_resize = dict(type='Resize', scale=own_target_scale,
                         keep_ratio=False, interpolation='bicubic',
                         backend='pillow')
train_dataloader = dict(
    dataset=dict(
        target=dict(
            _delete_=True,
            type='ImageFolderTargetDataset',
            data_root=own_target_root,
            img_dir=own_target_dir,
            img_suffix=own_target_suffix,
            pipeline=[
                dict(type='LoadImageFromFile'), own_target_resize,
                dict(type='LoadPseudoLabel', num_classes=19),
                dict(type='PackBDLSegInputs')
            ])))
pseudo_label_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ImageFolderTargetDataset',
        data_root=own_target_root,
        img_dir=own_target_dir,
        img_suffix=own_target_suffix,
        pipeline=[
            dict(type='LoadImageFromFile'), own_target_resize,
            dict(type='PackSegInputs')
        ]))
# no labelled target data: no validation after the phases
val_dataloader = None
val_cfg = None
val_evaluator = None
test_dataloader = None
test_cfg = None
test_evaluator = None
train_cfg = dict(
    val_after_phases=False,
    phase_dataloaders=dict(
        translation=dict(
            dataset=dict(
                data_root=None,
                data_prefix=dict(
                    source='data/gta5/images',
                    target=own_target_root + '/' + own_target_dir),
                target_suffix=own_target_suffix))))
