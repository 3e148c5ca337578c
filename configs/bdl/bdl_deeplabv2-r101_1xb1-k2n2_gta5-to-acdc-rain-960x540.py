# BDL (K=2, N=2, DeepLab-v2 ResNet-101), GTA5 -> ACDC rain: the ACDC night
# config with the rain images (train: F, adaptation, pseudo-labels; val: the
# round table).
#   python tools/train.py \
#       configs/bdl/bdl_deeplabv2-r101_1xb1-k2n2_gta5-to-acdc-rain-960x540.py
_base_ = ['./bdl_deeplabv2-r101_1xb1-k2n2_gta5-to-acdc-night-960x540.py']
acdc_condition = 'rain'
train_dataloader = dict(dataset=dict(target=dict(conditions=acdc_condition)))
pseudo_label_dataloader = dict(dataset=dict(conditions=acdc_condition))
val_dataloader = dict(dataset=dict(conditions=acdc_condition))
test_dataloader = val_dataloader
train_cfg = dict(
    phase_dataloaders=dict(
        translation=dict(
            dataset=dict(
                data_prefix=dict(target='acdc/rgb_anon/rain/train')))))
