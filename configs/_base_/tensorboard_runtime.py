# Inherit after default_runtime.py to log to TensorBoard next to local files.
_base_ = ['./default_runtime.py']
vis_backends = [
    dict(type='LocalVisBackend'),
    dict(type='TensorboardVisBackend'),
]
visualizer = dict(
    type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
