# The demo's "oracle": M's inference segmentor of bdl_demo.py (the same
# small DeepLab-v2; a backbone swapped there follows) trained with plain
# supervision on the labelled target TRAIN split of the demo data and
# validated on the target val split with the demo's metric. Its checkpoint
# scores a translator F by how well it segments F(source) against the source
# labels (the FCN-score, tools/analysis/fcn_score.py; docs/demo.md,
# "F's semantic drift: the FCN-score").
#   python tools/train.py configs/bdl/oracle_demo.py \
#       --work-dir work_dirs/oracle_demo
#   python tools/test.py configs/bdl/oracle_demo.py \
#       work_dirs/oracle_demo/iter_600.pth
# 600 iterations of batch 4 (20 passes over the 120 target train images),
# measured on the demo data (seed 0): target val mIoU 52.2 (a 1200-iteration
# schedule: 52.1), 153 s wall on 2 CPU cores shared with other jobs (load
# average 5 to 7; 0.14 to 0.22 s per iteration). docs/demo.md, "F's
# semantic drift: the FCN-score".
_base_ = ['./bdl_demo.py']

# M's inference segmentor (BDLEncoderDecoder), without the UDA wrapper
model = dict(_base_.model.segmentor.segmentor, _delete_=True)

# the labelled target train split (configs/_base_/datasets/demo_target.py);
# val / test: the target val split with BDLIoUMetric, as in the demo
train_dataloader = dict(
    _delete_=True,
    batch_size=4,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='CityscapesDataset',
        serialize_data=False,
        data_root=_base_.demo_target_root,
        data_prefix=dict(
            img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
        pipeline=_base_.demo_target_train_pipeline))
# the demo's BDL-only settings do not apply to a plain training run
pseudo_label_dataloader = None
translate_cfg = None
custom_hooks = []
model_wrapper_cfg = None

# ---------------------------------------------------------------- schedule
max_iters = 600
train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=max_iters)
# M's segmentation optimiser and schedule in the demo
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=2e-3, betas=(0.9, 0.99)))
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=max_iters,
         by_epoch=False)
]
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1),
    # a plain run checks its own initial weights; the demo's small M trains
    # from scratch (no ImageNet weights offline), as in bdl_demo.py
    weights_check=dict(check_training=True, allow_random_init=True))
