# BDL segmentation model, FCN-8s VGG-16, GTA5 (1280x720) -> Cityscapes
# (1024x512).
# M with Eq. 1: source cross-entropy + lambda_adv x output-space adversarial
# loss on the target, D trained with its own optimizer.
# lambda_adv 1e-4; Adam 1e-5 (biases 2x), x0.1 every 50k; batch 1
# (docs/method_facts.md, "Hyper-parameters").
# Translated source S' (Algorithm 1): set
#   train_dataloader.dataset.translated_source_dir.
_base_ = [
    '../_base_/models/adv_fcn8s_vgg16.py',
    '../_base_/datasets/uda_gta5-to-cityscapes-1280x720-1024x512.py',
    '../_base_/schedules/fcn8s-vgg16_adam-step-50k_80k.py',
    '../_base_/default_runtime.py',
]
