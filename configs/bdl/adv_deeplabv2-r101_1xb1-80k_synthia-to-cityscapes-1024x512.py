# BDL segmentation model, DeepLab-v2 ResNet-101, SYNTHIA-RAND-CITYSCAPES
# (1280x760) -> Cityscapes (1024x512).
# M with Eq. 1: source cross-entropy + lambda_adv x output-space adversarial
# loss on the target, D trained with its own optimizer.
# lambda_adv 1e-3; SGD 2.5e-4 (head 10x), poly 0.9 over 250k; batch 1
# (docs/method_facts.md, "Hyper-parameters").
# Translated source S' (Algorithm 1): set
#   train_dataloader.dataset.translated_source_dir.
_base_ = [
    '../_base_/models/adv_deeplabv2_r101.py',
    '../_base_/datasets/uda_synthia-to-cityscapes-1280x760-1024x512.py',
    '../_base_/schedules/deeplabv2_sgd-poly-250k_80k.py',
    '../_base_/default_runtime.py',
]
