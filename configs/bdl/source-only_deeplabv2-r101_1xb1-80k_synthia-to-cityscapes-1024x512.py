# BDL segmentation model, DeepLab-v2 ResNet-101, SYNTHIA-RAND-CITYSCAPES
# (1280x760) -> Cityscapes (1024x512).
# M(0): source only (cross-entropy on the source; the target branch is not
# run and D never steps).
# lambda_adv 1e-3; SGD 2.5e-4 (head 10x), poly 0.9 over 250k; batch 1
# (docs/method_facts.md, "Hyper-parameters").
_base_ = ['./adv_deeplabv2-r101_1xb1-80k_synthia-to-cityscapes-1024x512.py']
model = dict(uda_cfg=dict(adversarial=False))
