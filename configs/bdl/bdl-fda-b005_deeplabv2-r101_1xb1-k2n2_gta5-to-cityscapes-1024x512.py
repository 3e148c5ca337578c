# configs/bdl/bdl-fda-b001_...: FDA with beta 0.05 (the release's
# three models use beta 0.01, 0.05 and 0.09).
_base_ = [
    './bdl-fda-b001_deeplabv2-r101_1xb1-k2n2_gta5-to-cityscapes-1024x512.py'  # noqa: E501
]
model = dict(translator=dict(beta=0.05))
