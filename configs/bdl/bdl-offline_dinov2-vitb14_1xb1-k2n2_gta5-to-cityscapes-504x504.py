# The DINOv2 ViT-B/14 BDL config with BDL's own offline self-training
# rounds instead of the EMA teacher: before each M_i(k) the PseudoLabelHook
# writes class-wise-median pseudo-labels of the target with the latest M,
# and M_i(k) restarts from the DINOv2 weights (init='initial'), as the
# paper's configs do. Everything else (M, crops, recipe, F) is the ViT-B
# config's (rare-class sampling of the source included).
#   python tools/train.py \
#       configs/bdl/bdl-offline_dinov2-vitb14_1xb1-k2n2_gta5-to-cityscapes-504x504.py
_base_ = ['./bdl_dinov2-vitb14_1xb1-k2n2_gta5-to-cityscapes-504x504.py']
model = dict(
    segmentor=dict(
        _delete_=True,
        type='AdvSelfTrainingSegmentor',
        **{k: v for k, v in _base_.model.segmentor.items()
           if k not in ('type', 'ema_cfg')}))
train_cfg = dict(self_training=None, init=dict(self_training='initial'))
custom_hooks = [
    h for h in _base_.custom_hooks if h['type'] != 'EMATeacherHook'
] + [dict(type='PseudoLabelHook', policy='classwise_median')]
