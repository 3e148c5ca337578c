# BDL (K=2, N=2, DeepLab-v2 ResNet-101), GTA5 -> Dark Zurich (night): the
# GTA5 -> Cityscapes config with the Dark Zurich night training images as
# the target and its 50 labelled night val images for the round table.
# Data: docs/target_domains.md.
#   python tools/train.py \
#       configs/bdl/bdl_deeplabv2-r101_1xb1-k2n2_gta5-to-dark-zurich-960x540.py
_base_ = [
    './bdl_deeplabv2-r101_1xb1-k2n2_gta5-to-cityscapes-1024x512.py',
    '../_base_/datasets/dark-zurich_960x540.py',
]
train_dataloader = dict(
    dataset=dict(
        target=dict(_delete_=True, **_base_.dark_zurich_target_dataset)))
pseudo_label_dataloader = dict(
    dataset=dict(_delete_=True, **_base_.dark_zurich_pseudo_label_dataset))
val_dataloader = dict(
    dataset=dict(_delete_=True, **_base_.dark_zurich_val_dataset))
test_dataloader = val_dataloader
tta_pipeline = _base_.dark_zurich_tta_pipeline
train_cfg = dict(
    phase_dataloaders=dict(
        translation=dict(
            dataset=dict(
                data_prefix=dict(target='dark_zurich/rgb_anon/train/night'),
                target_suffix='_rgb_anon.png'))))
