# The demo (configs/bdl/bdl_demo.py) with online self-training: instead of
# writing pseudo-labels to disk before each self-training phase
# (PseudoLabelHook), an EMA teacher of M labels every target batch while M
# trains (DAFormer's mean teacher and quality-weighted pseudo-label loss).
#   python tools/train.py configs/bdl/bdl_demo_ema.py \
#       --work-dir work_dirs/bdl_demo_ema
# Same data, models, phases and budgets as the offline demo; the round
# table's "SSL pixel ratio" is the share of target pixels whose teacher
# probability exceeds the 0.968 threshold, averaged over the phase.
_base_ = ['./bdl_demo.py']
model = dict(
    segmentor=dict(
        type='EMATeacherSegmentor',
        # DAFormer's confidence threshold of the quality estimate; DACS
        # class-mix off (the demo's source and target sizes differ; it
        # works, resizing the source, but is not part of this comparison)
        ema_cfg=dict(pseudo_threshold=0.968, class_mix=False)))
train_cfg = dict(
    # online self-training; the teacher starts as the model M_0(k) the
    # adaptation phase ended with, so the student continues from it too
    self_training='ema_teacher',
    init=dict(self_training='continue'))
# the offline demo's hooks without the PseudoLabelHook, plus the teacher's
# EMA; 200-iteration phases: alpha 0.99 (a ~100-iteration memory), where
# DAFormer's 0.999 (the hook's default) suits 40k-iteration runs
custom_hooks = [
    h for h in _base_.custom_hooks if h['type'] != 'PseudoLabelHook'
] + [dict(type='EMATeacherHook', alpha=0.99)]
