"""tools/translate.py: config + checkpoint -> translated folder (+ sheet)."""
import importlib.util
import json
import os
import os.path as osp
import pprint
import re
import subprocess
import sys

import mmcv
import numpy as np
import pytest
import torch
from dist_utils import free_port
from tiny_translator import build_translator, tiny_translator_cfg, write_images

from mmbdl.engine.translation import ImageTranslator

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SIZES = [(20, 12), (13, 9), (20, 12)]


def _tool():
    spec = importlib.util.spec_from_file_location(
        'translate_tool', osp.join(REPO, 'tools', 'translate.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def setup(tmp_path):
    img_dir = tmp_path / 'gta' / 'images'
    names = write_images(str(img_dir), SIZES, ['0.png', 'x/1.png', '2.png'])
    cfg = tiny_translator_cfg(perceptual_checkpoint='/no/such/m0.pth')
    runtime = osp.join(REPO, 'configs', '_base_', 'default_runtime.py')
    cfg_path = tmp_path / 'translator.py'
    cfg_path.write_text(
        f'_base_ = [{runtime!r}]\nmodel = {pprint.pformat(cfg)}\n'
        f'translate_cfg = dict(img_dir={str(img_dir)!r}, '
        "img_suffix='.png', scale=None, batch_size=2)\n")
    # a checkpoint as a BDL/translator run would save it (M's checkpoint
    # path in the config does not exist: translating must not need it)
    cfg['perceptual_checkpoint'] = None
    model = build_translator(cfg, seed=11)
    ckpt = tmp_path / 'iter_10.pth'
    torch.save({'state_dict': {f'module.{k}': v
                               for k, v in model.state_dict().items()},
                'meta': {}}, ckpt)
    return dict(img_dir=str(img_dir), names=names, cfg=str(cfg_path),
                ckpt=str(ckpt), model=model, tmp=tmp_path)


def test_translate_folder_and_sample_sheet(setup):
    out = setup['tmp'] / 'translated'
    _tool().main([setup['cfg'], setup['ckpt'], '--out-dir', str(out),
                  '--show', '2', '--device', 'cpu'])
    ref = ImageTranslator(setup['model'])
    for name, (w, h) in zip(setup['names'], SIZES):
        got = mmcv.imread(str(out / name))
        assert got.shape == (h, w, 3)
        src = mmcv.imread(osp.join(setup['img_dir'], name))
        np.testing.assert_array_equal(got, ref([src])[0])
    meta = json.load(open(out / '.complete.json'))
    assert meta['num_images'] == 3
    assert meta['checkpoint'] == setup['ckpt']
    sheet = mmcv.imread(str(setup['tmp'] / 'translated_samples.png'))
    # rows: first and last of the sorted names (0.png 20x12, x/1.png 13x9)
    # with an 8 px gap; each row is input | 8 px | translation
    assert sheet.shape == (12 + 8 + 9, 20 + 8 + 20, 3)
    np.testing.assert_array_equal(sheet[20:, 21:34],
                                  mmcv.imread(str(out / 'x' / '1.png')))
    np.testing.assert_array_equal(
        sheet[:12, :20], mmcv.imread(osp.join(setup['img_dir'], '0.png')))
    np.testing.assert_array_equal(sheet[:12, 28:],
                                  mmcv.imread(str(out / '0.png')))


def test_scale_option_and_bad_inputs(setup, tmp_path):
    tool = _tool()
    out = tmp_path / 'scaled'
    tool.main([setup['cfg'], setup['ckpt'], '--out-dir', str(out), '--scale',
               '16', '8', '--device', 'cpu'])
    assert all(mmcv.imread(str(out / n)).shape == (8, 16, 3)
               for n in setup['names'])
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(ValueError, match='holds no file'):
        tool.main([setup['cfg'], setup['ckpt'], '--out-dir', str(out),
                   '--img-dir', str(empty)])
    bad = tmp_path / 'seg_only.pth'
    torch.save({'state_dict': {'backbone.conv1.weight': torch.zeros(1)}},
               bad)
    with pytest.raises(ValueError, match='generator'):
        tool.main([setup['cfg'], str(bad), '--out-dir', str(tmp_path / 'o'),
                   '--device', 'cpu'])


def test_two_processes_split_the_files(setup, tmp_path):
    """torchrun with 2 CPU processes (gloo): each rank translates its share,
    rank 0 marks the folder complete."""
    port = free_port()
    out = tmp_path / 'dist'
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node',
         '2', '--master_port', str(port), 'tools/translate.py',
         setup['cfg'], setup['ckpt'], '--out-dir', str(out), '--device',
         'cpu', '--launcher', 'pytorch', '--num-workers', '1'],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    # rank 0 (the only one logging at INFO) took 2 of the 3 files; the
    # folder is complete, so rank 1 wrote the third before the barrier
    assert re.search(r'translating 2 of 3 images .* \(rank 0/2', log), \
        log[-3000:]
    meta = json.load(open(out / '.complete.json'))
    assert meta['world_size'] == 2 and meta['num_images'] == 3
    ref = ImageTranslator(setup['model'])
    for name in setup['names']:
        src = mmcv.imread(osp.join(setup['img_dir'], name))
        np.testing.assert_array_equal(mmcv.imread(str(out / name)),
                                      ref([src])[0])
