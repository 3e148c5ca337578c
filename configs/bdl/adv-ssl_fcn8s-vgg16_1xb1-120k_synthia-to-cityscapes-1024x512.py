# BDL segmentation model, FCN-8s VGG-16, SYNTHIA-RAND-CITYSCAPES (1280x760)
# -> Cityscapes (1024x512).
# M with Eq. 3: Eq. 1 + cross-entropy on pseudo-labelled target pixels
# (255 = ignored), stopped at 120k iterations.
# lambda_adv 1e-4; Adam 1e-5 (biases 2x), x0.1 every 50k; batch 1
# (REFERENCE.md).
# Translated source S' (Algorithm 1): set
#   train_dataloader.dataset.translated_source_dir.
_base_ = [
    '../_base_/models/adv_fcn8s_vgg16.py',
    '../_base_/datasets/uda_synthia-to-cityscapes-1280x760-1024x512.py',
    '../_base_/schedules/fcn8s-vgg16_adam-step-50k_80k.py',
    '../_base_/default_runtime.py',
]
# Pseudo-labels of the target train set made by the adapted model, e.g.
#   python tools/pseudo_label.py CONFIG_OF_M CHECKPOINT --out-dir PSEUDO_DIR
# (inside the BDL loop PseudoLabelHook writes them and the loop sets the path).
pseudo_label_dir = 'data/pseudo_labels/synthia-to-cityscapes_fcn8s-vgg16'
train_dataloader = dict(dataset=dict(pseudo_label_dir=pseudo_label_dir))
train_cfg = dict(max_iters=120000, val_interval=120000)
