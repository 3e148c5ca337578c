# BDL segmentation model, FCN-8s VGG-16, SYNTHIA-RAND-CITYSCAPES (1280x760)
# -> Cityscapes (1024x512).
# M(0): source only (cross-entropy on the source; the target branch is not
# run and D never steps).
# lambda_adv 1e-4; Adam 1e-5 (biases 2x), x0.1 every 50k; batch 1
# (docs/method_facts.md, "Hyper-parameters").
_base_ = ['./adv_fcn8s-vgg16_1xb1-80k_synthia-to-cityscapes-1024x512.py']
model = dict(uda_cfg=dict(adversarial=False))
