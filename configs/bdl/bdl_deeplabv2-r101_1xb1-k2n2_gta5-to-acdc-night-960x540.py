# BDL (K=2, N=2, DeepLab-v2 ResNet-101), GTA5 -> ACDC night: the
# GTA5 -> Cityscapes config with ACDC's night images as the target (train
# for F, adaptation and pseudo-labels; val for the round table). Data:
# docs/target_domains.md.
#   python tools/train.py \
#       configs/bdl/bdl_deeplabv2-r101_1xb1-k2n2_gta5-to-acdc-night-960x540.py
# The fog / rain / snow configs inherit from this one and change only
# `acdc_condition` where it is used.
_base_ = [
    './bdl_deeplabv2-r101_1xb1-k2n2_gta5-to-cityscapes-1024x512.py',
    '../_base_/datasets/acdc_960x540.py',
]
acdc_condition = 'night'
train_dataloader = dict(
    dataset=dict(
        target=dict(
            _delete_=True,
            type='ACDCDataset',
            data_root={{_base_.acdc_data_root}},
            conditions=acdc_condition,
            split='train',
            labelled=False,
            pipeline={{_base_.acdc_target_pipeline}})))
pseudo_label_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ACDCDataset',
        data_root={{_base_.acdc_data_root}},
        conditions=acdc_condition,
        split='train',
        labelled=False,
        pipeline={{_base_.acdc_pseudo_label_pipeline}}))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ACDCDataset',
        data_root={{_base_.acdc_data_root}},
        conditions=acdc_condition,
        split='val',
        pipeline={{_base_.acdc_test_pipeline}}))
test_dataloader = val_dataloader
tta_pipeline = {{_base_.acdc_tta_pipeline}}
# F(k) translates GTA5 towards the ACDC training images of the condition
train_cfg = dict(
    phase_dataloaders=dict(
        translation=dict(
            dataset=dict(
                data_prefix=dict(target='acdc/rgb_anon/night/train'),
                target_suffix='_rgb_anon.png'))))
