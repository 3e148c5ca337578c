# Inherit after default_runtime.py to log to Weights & Biases next to local
# files (needs `pip install wandb`; run `wandb login` once, or set
# WANDB_MODE=offline to keep the run on disk). Change `project` / `name` with
# --cfg-options visualizer.vis_backends.1.init_kwargs.project=...
_base_ = ['./default_runtime.py']
vis_backends = [
    dict(type='LocalVisBackend'),
    dict(type='WandbVisBackend', init_kwargs=dict(project='mmbdl')),
]
visualizer = dict(
    type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
