"""The TensorBoard backend logs next to the local one when configured."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.runner import Runner
from tiny_seg import tiny_seg_config, write_tiny_seg_dataset


@pytest.mark.slow  # a runner run
def test_tensorboard_and_local_backends(tmp_path):
    data_root = write_tiny_seg_dataset(str(tmp_path / 'data'), num_val=1)
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text(
        tiny_seg_config(data_root, max_iters=2,
                        runtime='tensorboard_runtime.py'))
    cfg = Config.fromfile(str(cfg_file))
    types = [b['type'] for b in cfg.visualizer.vis_backends]
    assert types == ['LocalVisBackend', 'TensorboardVisBackend']
    cfg.work_dir = str(tmp_path / 'work')
    # MMEngine keeps visualizers as named singletons: use a fresh one
    cfg.visualizer.name = f'visualizer_{tmp_path.name}'
    runner = Runner.from_cfg(cfg)
    runner.train()
    vis_dir = osp.join(runner.log_dir, 'vis_data')
    scalars = open(osp.join(vis_dir, 'scalars.json')).read()
    assert '"decode.loss_ce"' in scalars
    from tensorboard.backend.event_processing.event_accumulator import \
        EventAccumulator
    events = EventAccumulator(vis_dir)
    events.Reload()
    tags = events.Tags()['scalars']
    assert 'decode.loss_ce' in tags
    assert len(events.Scalars('decode.loss_ce')) == 2
