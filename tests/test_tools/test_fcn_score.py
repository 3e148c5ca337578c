"""configs/bdl/oracle_demo.py and tools/analysis/fcn_score.py on a small
demo data set: the oracle trains and tests through the tools; the FCN-score
of a translator equals a numpy computation from the same weights; the
oracle config rule and the refusals."""
import glob
import json
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from cli_runner import run_tool
from data_fixtures import write_small_demo
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(REPO, 'configs', 'bdl', 'bdl_demo.py')
ORACLE = osp.join(REPO, 'configs', 'bdl', 'oracle_demo.py')
TOOL = 'tools/analysis/fcn_score.py'
TWO_ITERS = ['train_cfg.max_iters=2', 'train_cfg.val_interval=2',
             'default_hooks.checkpoint.interval=2',
             'param_scheduler.0.end=2']

pytestmark = pytest.mark.slow  # trains the oracle and runs the tools


def error_line(proc) -> str:
    """The single ``error:`` line of a refused run (exit status 2)."""
    lines = [x for x in proc.stderr.splitlines() if x.startswith('error:')]
    assert proc.returncode == 2 and len(lines) == 1, (
        proc.returncode, proc.stdout[-2000:], proc.stderr[-3000:])
    return lines[0]


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    """Demo data under a temporary cwd, the checkpoint of a translation
    phase (the whole BDL model, seeded) and an oracle trained for 2
    iterations by tools/train.py."""
    from mmengine.config import Config

    from mmbdl.registry import MODELS
    root = write_small_demo(tmp_path_factory.mktemp('fcn'), 3, 4, 2)
    torch.manual_seed(1)
    bdl = MODELS.build(Config.fromfile(DEMO).model).eval()
    f_ckpt = root / 'k1_translation.pth'
    torch.save(dict(state_dict=bdl.state_dict(), meta=dict(iter=1)), f_ckpt)
    work = root / 'oracle'
    train = run_tool('tools/train.py', [ORACLE, '--work-dir', str(work),
                                        '--cfg-options', *TWO_ITERS],
                     cwd=str(root))
    assert train.returncode == 0, train.stderr[-3000:]
    return dict(root=root, f=str(f_ckpt), translator=bdl.translator,
                oracle=str(work / 'iter_2.pth'), work=work, train=train)


def fcn_score(demo, *args):
    return run_tool(TOOL, [DEMO, *args], cwd=str(demo['root']))


def test_oracle_config_is_the_demo_segmentor_on_target_labels(demo):
    from mmengine.config import Config
    cfg, bdl = Config.fromfile(ORACLE), Config.fromfile(DEMO)
    assert cfg.model.to_dict() == bdl.model.segmentor.segmentor.to_dict()
    assert cfg.train_cfg.type == 'IterBasedTrainLoop'
    assert cfg.train_cfg.max_iters == cfg.train_cfg.val_interval == 600
    train = cfg.train_dataloader.dataset
    assert train.data_root == 'data/demo/cityscapes'
    assert train.data_prefix == dict(img_path='leftImg8bit/train',
                                     seg_map_path='gtFine/train')
    assert [s['type'] for s in train.pipeline][:2] == [
        'LoadImageFromFile', 'LoadAnnotations']
    assert cfg.val_dataloader.dataset.data_prefix.img_path == \
        'leftImg8bit/val'
    assert cfg.val_evaluator == bdl.val_evaluator
    assert not cfg.custom_hooks

    # tools/train.py: 2 iterations, a plain segmentor checkpoint that
    # records its config, the target val mIoU at the end
    ckpt = torch.load(demo['oracle'], map_location='cpu', weights_only=False)
    assert ckpt['meta']['iter'] == 2
    keys = list(ckpt['state_dict'])
    assert any(k.startswith('backbone.') for k in keys)
    assert any(k.startswith('decode_head.') for k in keys)
    assert not any(k.startswith('segmentor.') for k in keys)
    assert 'IterBasedTrainLoop' in ckpt['meta']['cfg']
    log = ''.join(open(p).read() for p in glob.glob(
        str(demo['work'] / '*' / '*.log')))
    assert 'mIoU' in log

    # MMSegmentation-style tools/test.py on it
    test = run_tool('tools/test.py', [ORACLE, demo['oracle'], '--work-dir',
                                      str(demo['root'] / 'oracle_test')],
                    cwd=str(demo['root']))
    assert test.returncode == 0, test.stderr[-3000:]
    assert 'mIoU' in test.stdout + test.stderr


def _predict(segmentor, img: np.ndarray, shape) -> np.ndarray:
    """BDL's rule, written out: Caffe-normalised BGR input, softmax of the
    head's output, bilinear (align_corners) to the label size, argmax."""
    pre = segmentor.data_preprocessor
    x = torch.from_numpy(img).permute(2, 0, 1).float()[None]
    assert not pre.channel_conversion  # the demo stays BGR
    x = (x - pre.mean) / pre.std
    with torch.no_grad():
        logits = segmentor(x, mode='tensor')
    probs = F.interpolate(logits.softmax(1), size=shape, mode='bilinear',
                          align_corners=True)
    return probs.argmax(1)[0].numpy()


def _miou(conf: np.ndarray):
    inter = np.diag(conf).astype(float)
    union = conf.sum(0) + conf.sum(1) - inter
    with np.errstate(invalid='ignore', divide='ignore'):
        iou = inter / union
    return np.round(np.nanmean(iou) * 100, 2), iou


def test_fcn_score_equals_a_numpy_computation(demo, tmp_path):
    from mmengine.config import Config

    from mmbdl.engine.translation import ImageTranslator
    from mmbdl.registry import MODELS
    out = tmp_path / 'score.json'
    proc = fcn_score(demo, demo['f'], demo['oracle'], '--out', str(out),
                     '--device', 'cpu')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f'oracle config: recorded in {demo["oracle"]}' in proc.stdout
    assert '| **mIoU** |' in proc.stdout
    result = json.loads(out.read_text())
    assert result['num_images'] == 3
    assert result['f_checkpoint'] == demo['f']
    assert result['oracle_checkpoint'] == demo['oracle']
    assert len(result['classes']) == 19 and result['classes'][0] == 'road'

    # the oracle, loaded by hand from its checkpoint
    oracle = MODELS.build(Config.fromfile(ORACLE).model)
    state = torch.load(demo['oracle'], map_location='cpu',
                       weights_only=False)['state_dict']
    oracle.load_state_dict(state, strict=True)
    oracle.eval()
    translate = ImageTranslator(demo['translator'])
    gta = demo['root'] / 'data' / 'demo' / 'gta5'
    conf = dict(translated=np.zeros((19, 19), np.int64),
                identity=np.zeros((19, 19), np.int64))
    for path in sorted(glob.glob(str(gta / 'images' / '*.png'))):
        img = mmcv.imread(path)  # BGR, the demo's 128x64: no resize
        assert img.shape == (64, 128, 3)
        name = osp.splitext(osp.basename(path))[0]
        label = np.array(Image.open(gta / 'labels' /
                                    f'{name}_labelTrainIds.png'))
        keep = label != 255
        for key, x in (('translated', translate([img])[0]),
                       ('identity', img)):
            pred = _predict(oracle, x, label.shape)
            conf[key] += np.bincount(
                label[keep].astype(np.int64) * 19 + pred[keep],
                minlength=19 * 19).reshape(19, 19)
    assert not np.array_equal(conf['translated'], conf['identity'])
    for key in ('translated', 'identity'):
        miou, iou = _miou(conf[key])
        assert result[key]['mIoU'] == pytest.approx(miou, abs=1e-6)
        for name, value in zip(result['classes'], iou):
            got = result[key]['IoU'][name]
            if np.isnan(value):
                assert got is None  # absent from labels and predictions
            else:
                assert got == pytest.approx(round(value * 100, 2))
        acc = np.diag(conf[key]).sum() / conf[key].sum() * 100
        assert result[key]['aAcc'] == pytest.approx(round(acc, 2))
    assert f'FCN-score mIoU {result["translated"]["mIoU"]}' in proc.stdout

    # an oracle checkpoint that records no config: the default oracle
    # config (the same here), the same scores
    bare = tmp_path / 'bare.pth'
    torch.save(dict(state_dict=state), bare)
    proc = fcn_score(demo, demo['f'], str(bare), '--out',
                     str(tmp_path / 'bare.json'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'oracle config: configs/bdl/oracle_demo.py' in proc.stdout
    again = json.loads((tmp_path / 'bare.json').read_text())
    for key in ('translated', 'identity'):
        assert again[key] == result[key]


def test_refusals(demo, tmp_path):
    # the oracle's checkpoint as F: no generator weights, even with
    # --allow-partial
    for extra in ([], ['--allow-partial']):
        line = error_line(fcn_score(demo, demo['oracle'], demo['oracle'],
                                    *extra))
        assert f'{demo["oracle"]} holds no translator weights' in line
        assert 'k1_translation.pth' in line
    # F with one generator weight missing
    state = torch.load(demo['f'], map_location='cpu',
                       weights_only=False)['state_dict']
    dropped = next(k for k in state
                   if k.startswith('translator.generators.') and
                   k.endswith('.weight'))
    partial = tmp_path / 'partial.pth'
    torch.save(dict(state_dict={k: v for k, v in state.items()
                                if k != dropped}), partial)
    line = error_line(fcn_score(demo, str(partial), demo['oracle']))
    assert str(partial) in line and '1 missing' in line
    # missing files
    missing = str(tmp_path / 'nope.pth')
    for args in ([missing, demo['oracle']], [demo['f'], missing],
                 [demo['f'], demo['oracle'], '--oracle-config', missing]):
        line = error_line(fcn_score(demo, *args))
        assert f'{missing} does not exist' in line
    # a config without a UDADataset (the oracle's own)
    proc = run_tool(TOOL, [ORACLE, demo['f'], demo['oracle']],
                    cwd=str(demo['root']))
    assert 'oracle_demo.py' in error_line(proc)
    # a source pipeline without LoadAnnotations: no labels, no guess
    from mmengine.config import Config
    cfg = Config.fromfile(DEMO)
    source = cfg.train_dataloader.dataset.source
    source.pipeline = [s for s in source.pipeline
                       if s['type'] != 'LoadAnnotations']
    cfg.train_dataloader.dataset.source = source
    unlabelled = str(tmp_path / 'unlabelled.py')
    cfg.dump(unlabelled)
    proc = run_tool(TOOL, [unlabelled, demo['f'], demo['oracle']],
                    cwd=str(demo['root']))
    assert 'has no LoadAnnotations' in error_line(proc)
