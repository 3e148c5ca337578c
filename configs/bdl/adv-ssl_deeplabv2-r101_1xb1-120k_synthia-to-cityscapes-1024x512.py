# BDL segmentation model, DeepLab-v2 ResNet-101, SYNTHIA-RAND-CITYSCAPES
# (1280x760) -> Cityscapes (1024x512).
# M with Eq. 3: Eq. 1 + cross-entropy on pseudo-labelled target pixels
# (255 = ignored), stopped at 120k iterations.
# lambda_adv 1e-3; SGD 2.5e-4 (head 10x), poly 0.9 over 250k; batch 1
# (docs/method_facts.md, "Hyper-parameters").
_base_ = ['./adv_deeplabv2-r101_1xb1-80k_synthia-to-cityscapes-1024x512.py']
# Pseudo-labels of the target train set made by the adapted model, e.g.
#   python tools/pseudo_label.py CONFIG_OF_M CHECKPOINT --out-dir PSEUDO_DIR
# (inside the BDL loop PseudoLabelHook writes them and the loop sets the path).
pseudo_label_dir = 'data/pseudo_labels/synthia-to-cityscapes_deeplabv2-r101'
train_dataloader = dict(dataset=dict(pseudo_label_dir=pseudo_label_dir))
# Eq. 3: the pseudo-label term reads them (named, never inferred from the
# batch)
model = dict(
    loss_terms=dict(standalone=['source_ce', 'adversarial', 'pseudo_labels']))
train_cfg = dict(max_iters=120000, val_interval=120000)
