# BDL (Algorithm 1, K=2, N=2) with FCN-8s VGG-16,
# SYNTHIA -> Cityscapes, in one command:
#   python tools/train.py \
#       configs/bdl/bdl_fcn8s-vgg16_1xb1-k2n2_synthia-to-cityscapes-1024x512.py
# Phases (the release's budgets): M(0) source-only 80k iterations; for
# k = 1, 2: F(k) 20 CycleGAN epochs, S'(k) written, M_0(k) 80k (Eq. 1),
# then twice: pseudo-labels, M_i(k) 120k (Eq. 3). Round table:
# work_dirs/<this config>/bdl_rounds.md. The backbone starts from the
# release's ImageNet weights (its init_cfg, docs/pretrained_weights.md) and
# every phase with init='initial' restarts from them.
_base_ = [
    '../_base_/bdl/bdl_k2n2_fcn8s-vgg16.py',  # M + F, optimizers
    '../_base_/bdl/bdl_data_synthia-to-cityscapes.py',  # data, loop, hooks
    '../_base_/default_runtime.py',
]
# the paper reports SYNTHIA with FCN-8s as mIoU16: the round table's
# headline and gains (bdl_rounds.json / .md also carry mIoU and mIoU13)
report_metric = 'mIoU16'
