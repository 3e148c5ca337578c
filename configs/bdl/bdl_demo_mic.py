# The EMA demo (configs/bdl/bdl_demo_ema.py) with DACS class-mix and MIC's
# masked image consistency (Hoyer et al., CVPR 2023) in the self-training
# phases: M also learns the teacher's labels of the whole target image from
# a masked, contrast-jittered copy of it.
#   python tools/train.py configs/bdl/bdl_demo_mic.py \
#       --work-dir work_dirs/bdl_demo_mic
_base_ = ['./bdl_demo_ema.py']
model = dict(
    segmentor=dict(
        ema_cfg=dict(pseudo_threshold=0.968, class_mix=True),
        loss_terms=dict(
            # the kind's own terms (source CE, D, the teacher's class-mixed
            # labels), then MIC: the release's ratio 0.7 and weight 1; its
            # 64-pixel blocks are 1/8 of a 512-pixel crop side, so 8 pixels
            # on the demo's 128x64 target
            self_training=[
                'source_ce', 'adversarial', 'pseudo_labels',
                dict(
                    type='MaskedConsistency',
                    mask_ratio=0.7,
                    mask_block_size=8,
                    loss_weight=1.0)
            ])))
