# BDL's bidirectional loop with DAFormer's training recipe for M:
# SegFormer MiT-B5, online self-training with an EMA teacher (alpha 0.999,
# quality-weighted pseudo-labels, DACS class-mix) and rare-class sampling of
# the source (T = 0.01). The translation phases (F(k), S'(k)) and the
# adaptation phases are BDL's; each self-training phase continues from
# M_0(k) with its teacher started as M_0(k). See docs/beyond_the_paper.md.
#   python tools/train.py \
#       configs/bdl/bdl-ema_segformer-mit-b5_1xb1-k2n2_gta5-to-cityscapes-512x512.py
_base_ = ['./bdl_segformer-mit-b5_1xb1-k2n2_gta5-to-cityscapes-512x512.py']
model = dict(
    segmentor=dict(
        type='EMATeacherSegmentor',
        ema_cfg=dict(pseudo_threshold=0.968, class_mix=True)))
train_cfg = dict(
    self_training='ema_teacher', init=dict(self_training='continue'))
# rare-class sampling of the source images, DAFormer's settings (the counts
# come from data/gta5/sample_class_stats.json, written by
# tools/dataset_converters/gta5.py)
train_dataloader = dict(
    dataset=dict(
        rare_class_sampling=dict(
            temperature=0.01, min_pixels=3000, min_crop_ratio=0.5)))
custom_hooks = [
    h for h in _base_.custom_hooks if h['type'] != 'PseudoLabelHook'
] + [dict(type='EMATeacherHook', alpha=0.999)]
