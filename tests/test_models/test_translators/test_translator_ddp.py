"""Two CPU processes (torchrun, gloo) train the tiny PerceptualCycleGAN with
different data per rank: generators and discriminators stay identical.

MMagic's CycleGAN calls its networks through ``.module``, bypassing DDP's
forward, so without PerceptualCycleGAN's own gradient averaging the ranks
drift apart after the first step."""
import os
import os.path as osp
import pprint
import socket
import subprocess

import pytest
import torch
from tiny_translator import (tiny_segmentor_cfg, tiny_translator_cfg,
                             write_images)

from mmbdl.registry import MODELS

# trains or compares whole steps of real models: make test-quick leaves
# it out (tests/conftest.py, the slow marker)
pytestmark = pytest.mark.slow

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))


def test_two_ranks_end_with_identical_weights(tmp_path):
    write_images(str(tmp_path / 'data' / 'gta'), [(40, 36)] * 4, seed=1)
    write_images(str(tmp_path / 'data' / 'city'), [(36, 40)] * 4, seed=2)
    torch.manual_seed(0)
    seg = MODELS.build(tiny_segmentor_cfg())
    seg.init_weights()
    torch.save({'state_dict': seg.state_dict()}, tmp_path / 'm0.pth')
    model = tiny_translator_cfg(perceptual_checkpoint=str(tmp_path /
                                                          'm0.pth'))
    runtime = osp.join(REPO, 'configs', '_base_', 'default_runtime.py')
    (tmp_path / 'cfg.py').write_text(f'''
_base_ = [{runtime!r}]
model = {pprint.pformat(model)}
pipeline = [
    dict(type='mmagic.LoadImageFromFile', key='img_source'),
    dict(type='mmagic.LoadImageFromFile', key='img_target'),
    dict(type='mmagic.Resize', keys=['img_source', 'img_target'],
         scale=(32, 32)),
    dict(type='mmagic.PackInputs', keys=['img_source', 'img_target'],
         data_keys=['img_source', 'img_target']),
]
train_dataloader = dict(
    batch_size=1, num_workers=0, collate_fn=dict(type='pseudo_collate'),
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='UnpairedDataset', data_root={str(tmp_path / 'data')!r},
                 data_prefix=dict(source='gta', target='city'),
                 pipeline=pipeline))
optim = dict(type='OptimWrapper',
             optimizer=dict(type='Adam', lr=2e-3, betas=(0.5, 0.999)))
optim_wrapper = dict(constructor='mmagic.MultiOptimWrapperConstructor',
                     generators=optim, discriminators=optim)
train_cfg = dict(type='IterBasedTrainLoop', max_iters=3)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=3, by_epoch=False))
custom_imports = dict(imports=['tiny_hooks'], allow_failed_imports=False)
custom_hooks = [dict(type='DumpRankWeightsHook')]
model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel',
                         broadcast_buffers=False,
                         find_unused_parameters=False)
randomness = dict(seed=0, diff_rank_seed=True)
''')
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    work_dir = tmp_path / 'work'
    env = dict(os.environ, PORT=str(port), OMP_NUM_THREADS='1',
               PYTHONPATH=osp.join(REPO, 'tests'))
    proc = subprocess.run(
        ['bash', 'tools/dist_train.sh', str(tmp_path / 'cfg.py'), '2',
         '--work-dir', str(work_dir)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rank0 = torch.load(work_dir / 'rank0.pth')
    rank1 = torch.load(work_dir / 'rank1.pth')
    trained = [k for k in rank0 if k.startswith(('generators.',
                                                 'discriminators.'))]
    assert len(trained) > 40
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    assert (work_dir / 'iter_3.pth').is_file()
