# The demo (configs/bdl/bdl_demo.py) with MMSegmentation's photometric
# distortion (brightness, contrast, saturation, hue) on the source images
# that M trains on, in every segmentation phase: a source-only M(0) that
# depends less on the source's colours, and so a perceptual model for F(1)
# that responds more to what a scene shows than to how it looks. A try of
# the demo's retune for data version 3 (docs/demo.md, "Retuning for version
# 3: what was tried"); F's own data is unchanged.
#   python tools/train.py configs/bdl/bdl_demo_photometric.py \
#       --work-dir work_dirs/bdl_demo_photometric
_base_ = ['./bdl_demo.py']
train_dataloader = dict(dataset=dict(source=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=(128, 64), keep_ratio=False,
         interpolation='bicubic', backend='pillow'),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
])))
