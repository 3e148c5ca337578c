# BDL on top of VFM-UDA, step 3: step 2 (F with the perceptual loss) plus
# BDL's offline self-training rounds after M_0(1): N = 2 phases M_i(1),
# each trained from the DINOv2 weights again (the release's
# init='initial') on S'(1) with the weakly jittered source CE and the
# pseudo-labels of M_{i-1}(1) written to disk before the phase (Eq. 3, the
# release's class-wise median threshold, PseudoLabelHook). The online
# teacher labels the recipe's phases (M(0), M_0(1)); the offline rounds
# have none.
#   python tools/train.py \
#       configs/vfm-uda/bdl-vfm-uda-offline_dinov2-vitb14_1xb8-40k_gta5-to-cityscapes-1024x1024.py
_base_ = [
    './bdl-vfm-uda-perceptual_dinov2-vitb14_1xb8-40k_gta5-to-cityscapes-'
    '1024x1024.py'
]
num_ssl_rounds = 2  # N
model = dict(
    segmentor=dict(
        loss_terms=dict(self_training=[
            dict(type='SourceCE', augment=_base_.weak_jitter),
            'pseudo_labels'
        ])))
train_cfg = dict(
    plan=dict(
        first=['uda'],
        round=[
            'translation', 'adaptation',
            dict(kind='self_training', repeat=num_ssl_rounds)
        ]),
    phase_iters=dict(self_training=_base_.max_iters),
    # online labels in the recipe's phase kinds, files in the rounds
    self_training=dict(
        _delete_=True, uda='ema_teacher', self_training='offline'),
    init=dict(self_training='initial'))
custom_hooks = _base_.custom_hooks + [
    dict(type='PseudoLabelHook', policy='classwise_median',
         kinds=['self_training'])
]
