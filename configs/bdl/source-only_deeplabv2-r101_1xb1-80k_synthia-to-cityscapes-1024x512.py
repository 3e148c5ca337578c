# BDL segmentation model, DeepLab-v2 ResNet-101, SYNTHIA-RAND-CITYSCAPES
# (1280x760) -> Cityscapes (1024x512).
# M(0): source only (cross-entropy on the source; the target branch is not
# run and D never steps).
# lambda_adv 1e-3; SGD 2.5e-4 (head 10x), poly 0.9 over 250k; batch 1
# (REFERENCE.md).
# Translated source S' (Algorithm 1): set
#   train_dataloader.dataset.translated_source_dir.
_base_ = [
    '../_base_/models/adv_deeplabv2_r101.py',
    '../_base_/datasets/uda_synthia-to-cityscapes-1280x760-1024x512.py',
    '../_base_/schedules/deeplabv2_sgd-poly-250k_80k.py',
    '../_base_/default_runtime.py',
]
model = dict(uda_cfg=dict(adversarial=False))
