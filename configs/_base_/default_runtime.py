# Runtime settings shared by every mmbdl config.
default_scope = 'mmbdl'
# imported when the config is loaded, so that any entry point (mmbdl's
# tools, MMSegmentation's tools/train.py and tools/test.py, `mim train
# mmsegmentation`) finds mmbdl; the registries of scope 'mmbdl' import
# their modules (and MMSegmentation's) on first use. The runner is the
# exception: MMSegmentation's train.py builds `runner_type` before any
# default scope exists, from the root registry, so its module is named.
custom_imports = dict(
    imports=['mmbdl', 'mmbdl.engine.runner'], allow_failed_imports=False)
# MMEngine's Runner with a readable console: phase starts, progress lines
# with ETA, progress bars and the round table; the full log (environment,
# config, every INFO line, Python warnings) is in the work dir's log file.
# console = 'full' gives MMEngine's console.
runner_type = 'BDLRunner'
console = 'brief'
env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
# Local files always; add dict(type='TensorboardVisBackend') to also log to
# TensorBoard (see configs/_base_/tensorboard_runtime.py).
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
# tools/test.py --tta: averages the probabilities of the views of the
# config's `tta_pipeline` (BDL segmentors output probabilities, so no
# second softmax as in MMSegmentation's SegTTAModel)
tta_model = dict(type='BDLSegTTAModel')
