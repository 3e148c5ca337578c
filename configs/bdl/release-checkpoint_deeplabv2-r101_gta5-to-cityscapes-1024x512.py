# Evaluates a converted DeepLab-v2 checkpoint of the BDL release
# (GTA5_deeplab, configs/bdl/metafile.yaml) as the release computed it:
# the code that made the published checkpoints summed only 2 of the 4 ASPP
# branches (a misplaced return, fixed in July 2020; docs/method_facts.md,
# "Release defects and behaviours"). Convert, then test:
#   python tools/model_converters/bdl_to_mmbdl.py <release>.pth \
#       checkpoints/bdl_gta5_deeplab_mmbdl.pth --prefix segmentor.
#   python tools/test.py CONFIG checkpoints/bdl_gta5_deeplab_mmbdl.pth
_base_ = ['./adv_deeplabv2-r101_1xb1-80k_gta5-to-cityscapes-1024x512.py']
model = dict(
    segmentor=dict(
        # trained weights come from the checkpoint: no ImageNet init needed
        backbone=dict(init_cfg=None),
        decode_head=dict(num_effective_branches=2)))
