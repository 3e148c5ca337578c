"""tools/pseudo_label.py and tools/analysis/plot_pixel_ratio.py."""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from cli_runner import run_tool
from dist_utils import free_port
from mmengine.dataset import pseudo_collate
from tiny_pseudo_label import (build_segmentor, config_text, segmentor_cfg,
                               target_dataset_cfg, write_target_set)

from mmbdl.apis.segmentor_loading import load_inference_segmentor
from mmbdl.engine.pseudo_labeling import (COMPLETE_FILE, PseudoLabelDirError,
                                          PseudoLabeler)
from mmbdl.registry import DATASETS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load(name, *parts):
    spec = importlib.util.spec_from_file_location(
        name, osp.join(REPO, 'tools', *parts))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp('tool')
    data = str(d / 'data')
    rels = write_target_set(data, num_images=4)
    cfg = d / 'cfg.py'
    cfg.write_text(config_text(data))
    ckpts = {}
    for name, kwargs in dict(a=dict(seed=0), b=dict(seed=1),
                             five=dict(num_classes=5)).items():
        ckpts[name] = str(d / f'{name}.pth')
        torch.save({'state_dict': build_segmentor(**kwargs).state_dict()},
                   ckpts[name])
    return dict(dir=d, data=data, rels=rels, cfg=str(cfg), ckpts=ckpts)


def png_bytes(folder):
    out = {}
    for root, _, names in os.walk(folder):
        for n in names:
            if n.endswith('.png'):
                with open(osp.join(root, n), 'rb') as f:
                    out[osp.relpath(osp.join(root, n), folder)] = f.read()
    return out


def test_tool_round_trip_and_refusals(setup, tmp_path, capsys):
    tool = _load('pseudo_label_tool', 'pseudo_label.py')
    out = str(tmp_path / 'out')
    tool.main([setup['cfg'], setup['ckpts']['a'], '--out-dir', out,
               '--no-progress'])
    meta = json.load(open(osp.join(out, COMPLETE_FILE)))
    assert meta['num_files'] == 4 and meta['policy']['type'] == \
        'classwise_median'
    assert meta['checkpoint'] == osp.abspath(setup['ckpts']['a'])
    assert sorted(png_bytes(out)) == sorted(r + '.png' for r in setup['rels'])
    assert 'kept-pixel ratio' in capsys.readouterr().out
    first = png_bytes(out)
    # same checkpoint and settings: nothing to do
    tool.main([setup['cfg'], setup['ckpts']['a'], '--out-dir', out])
    assert 'nothing to do' in capsys.readouterr().out
    # another checkpoint: refused unless --overwrite, files untouched
    with pytest.raises(PseudoLabelDirError, match='weights'):
        tool.main([setup['cfg'], setup['ckpts']['b'], '--out-dir', out])
    assert png_bytes(out) == first
    tool.main([setup['cfg'], setup['ckpts']['b'], '--out-dir', out,
               '--overwrite', '--policy', 'fixed', '--threshold', '0.7',
               '--no-progress'])
    meta = json.load(open(osp.join(out, COMPLETE_FILE)))
    assert meta['thresholds'] == [0.7, 0.7, 0.7]
    assert meta['policy'] == dict(type='fixed', threshold=0.7)
    # the command line reports bad input in one line, exit code 2
    proc = run_tool('tools/pseudo_label.py',
                    [setup['cfg'], setup['ckpts']['a'], '--out-dir', out])
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith('error: ')
    assert '--overwrite' in proc.stderr


def test_checkpoint_with_other_class_count_is_refused(setup, tmp_path):
    tool = _load('pseudo_label_tool', 'pseudo_label.py')
    with pytest.raises(ValueError, match='predicts 5 classes.*have 3'):
        tool.main([setup['cfg'], setup['ckpts']['five'], '--out-dir',
                   str(tmp_path / 'o')])
    assert not osp.exists(tmp_path / 'o')


def test_unreadable_image_is_named(setup, tmp_path):
    tool = _load('pseudo_label_tool', 'pseudo_label.py')
    data = str(tmp_path / 'broken')
    rels = write_target_set(data, num_images=2)
    with open(osp.join(data, 'leftImg8bit', 'train', rels[0] + '.png'),
              'wb') as f:
        f.write(b'\x00' * 10)
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(config_text(data))
    with pytest.raises(ValueError, match=rels[0] + '.png'):
        tool.main([str(cfg), setup['ckpts']['a'], '--out-dir',
                   str(tmp_path / 'o'), '--no-progress'])


def test_whole_model_checkpoint_and_outer_preprocessor(setup, tmp_path):
    """A BDL-style config: the plain segmentor two `segmentor=` levels deep,
    its preprocessor only on the outer model, checkpoint keys prefixed."""
    inner = segmentor_cfg()
    dp = inner.pop('data_preprocessor')
    cfg_path = tmp_path / 'bdl_like.py'
    cfg_path.write_text(
        "default_scope = 'mmbdl'\n"
        f"model = dict(type='NotBuilt', segmentor=dict(type='AlsoNotBuilt', "
        f"segmentor={inner!r}, data_preprocessor=dict(type='UDA', "
        f"source={dp!r}, target={dp!r})))\n")
    from mmengine.config import Config
    state = build_segmentor().state_dict()
    ckpt = str(tmp_path / 'whole.pth')
    torch.save({'state_dict': {'segmentor.segmentor.' + k: v
                               for k, v in state.items()},
                'meta': {}}, ckpt)
    seg = load_inference_segmentor(Config.fromfile(str(cfg_path)), ckpt)
    for k, v in seg.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert seg.data_preprocessor.mean.flatten().tolist() == \
        pytest.approx([104.0, 116.7, 122.7])


def test_two_processes_give_identical_labels(setup, tmp_path):
    port = free_port()
    two = str(tmp_path / 'two')
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node',
         '2', '--master_port', str(port), 'tools/pseudo_label.py',
         setup['cfg'], setup['ckpts']['a'], '--out-dir', two, '--launcher',
         'pytorch', '--no-progress'],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    tool = _load('pseudo_label_tool', 'pseudo_label.py')
    one = str(tmp_path / 'one')
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        tool.main([setup['cfg'], setup['ckpts']['a'], '--out-dir', one,
                   '--no-progress'])
    finally:
        torch.set_num_threads(threads)
    meta1 = json.load(open(osp.join(one, COMPLETE_FILE)))
    meta2 = json.load(open(osp.join(two, COMPLETE_FILE)))
    assert meta2['world_size'] == 2 and meta1['world_size'] == 1
    assert meta1['thresholds'] == meta2['thresholds']
    assert meta1['stats'] == meta2['stats']
    files = png_bytes(one)
    assert len(files) == 4 and files == png_bytes(two)


def test_plot_pixel_ratio(setup, tmp_path):
    tool = _load('plot_pixel_ratio', 'analysis', 'plot_pixel_ratio.py')
    png, js = str(tmp_path / 'fig.png'), str(tmp_path / 'fig.json')
    tool.main([setup['cfg'], setup['ckpts']['a'], '--out', png, '--json', js,
               '--min', '0.5', '--max', '1.0', '--step', '0.25'])
    img = cv2.imread(png)
    assert img is not None and img.shape[0] > 100 and img.shape[1] > 200
    curve = json.load(open(js))
    assert curve['threshold'] == [0.5, 0.75, 1.0]
    # direct computation from the segmentor's predictions
    ds = DATASETS.build(target_dataset_cfg(setup['data']))
    labeler = PseudoLabeler(build_segmentor())
    conf = np.concatenate([
        labeler.predict(pseudo_collate([ds[i]]))[0]['conf'].ravel()
        for i in range(len(ds))])
    for t, r in zip(curve['threshold'], curve['ratio']):
        assert r == pytest.approx((conf >= t).mean())
    assert curve['slope'][1] == pytest.approx(
        (curve['ratio'][2] - curve['ratio'][0]) / 0.5)
    assert curve['num_pixels'] == conf.size
