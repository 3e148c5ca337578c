"""Every evaluating entry point refuses a checkpoint that fills only part of
the model it evaluates, in one line, unless --allow-partial.

The entry points: tools/test.py, MMSegmentation's packaged test.py (through
the configs' ``default_hooks.weights_check``), tools/infer.py,
tools/pseudo_label.py and tools/translate.py, each on the demo config with
an unprefixed checkpoint, a checkpoint of the BDL release (not converted)
and a checkpoint of another architecture.
"""
import glob
import json
import os.path as osp

import pytest
import torch
from cli_runner import run_tool

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(REPO, 'configs', 'bdl', 'bdl_demo.py')
M = 'segmentor.segmentor.'
CONVERTER = 'python tools/model_converters/bdl_to_mmbdl.py'


def run(args, cwd):
    """``python ARGS`` in this process (tests/cli_runner.py): the point is
    each tool's refusal, not a fresh interpreter."""
    return run_tool(args[0], args[1:], cwd=str(cwd))


def error_line(proc) -> str:
    """The single ``error:`` line of a refused run (exit status 2)."""
    lines = [x for x in proc.stderr.splitlines() if x.startswith('error:')]
    assert proc.returncode == 2 and len(lines) == 1, (
        proc.returncode, proc.stdout[-2000:], proc.stderr[-3000:])
    return lines[0]


def weights(keys):
    return [k for k in keys if not k.endswith('num_batches_tracked')]


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    """Demo data under a temporary cwd and the checkpoints of the tests."""
    from mmengine.config import Config

    from mmbdl.datasets.demo import make_demo_data
    from mmbdl.registry import MODELS
    from mmbdl.utils import register_all_modules
    register_all_modules()
    cwd = tmp_path_factory.mktemp('partial')
    make_demo_data(str(cwd / 'data' / 'demo'), num_source=2,
                   num_target_train=2, num_target_val=2)
    torch.manual_seed(0)
    state = MODELS.build(Config.fromfile(DEMO).model).state_dict()
    m_keys = [k for k in state if k.startswith(M)]
    gen_keys = [k for k in state if k.startswith('translator.generators.')]
    ckpts = dict(
        full=dict(state_dict=state),
        # M's weights without their prefix in the BDL model
        unprefixed={k[len(M):]: state[k] for k in m_keys},
        # M without its decode head, under the right prefix
        partial={k: state[k] for k in m_keys if '.decode_head.' not in k},
        # a DeepLab-v2 of the BDL release, not converted (its key names)
        release={'conv1.weight': torch.zeros(64, 3, 7, 7),
                 'bn1.weight': torch.ones(64),
                 'layer5.conv2d_list.0.weight': torch.zeros(19, 2048, 3, 3)},
        foreign=dict(state_dict={'encoder.block0.weight': torch.zeros(4, 4),
                                 'head.fc.weight': torch.zeros(2, 4)}),
        # the generators without their prefix in the BDL model
        translator_unprefixed={k[len('translator.'):]: state[k]
                               for k in gen_keys})
    paths = {}
    for name, ckpt in ckpts.items():
        paths[name] = str(cwd / f'{name}.pth')
        torch.save(ckpt, paths[name])
    counts = dict(m=len(weights(m_keys)), gen=len(weights(gen_keys)),
                  head=len(weights(k for k in m_keys
                                   if '.decode_head.' in k)))
    return cwd, paths, counts


def check_refusal(line, kind, counts, path, converter_prefix=M):
    """The parts every refusal names, per checkpoint kind."""
    if kind == 'unprefixed':
        assert f"0/{counts['m']} weights of the evaluated module match " \
            f"({counts['m']} missing" in line
        assert f"add the prefix '{M}'" in line
    elif kind == 'release':
        assert f"0/{counts['m']} weights" in line
        assert 'it is a deeplabv2 checkpoint of the BDL release' in line
        assert f'{CONVERTER} {path} CONVERTED.pth' in line
    elif kind == 'foreign':
        assert f"0/{counts['m']} weights" in line
        assert 'no prefix change makes its keys fit' in line
    elif kind == 'partial':
        assert f"{counts['m'] - counts['head']}/{counts['m']} weights" \
            f" of the evaluated module match ({counts['head']} missing" \
            in line
        assert 'decode_head.' in line
    if converter_prefix is not None:
        assert CONVERTER in line
        if converter_prefix:
            assert f'--prefix {converter_prefix}' in line
    assert '--allow-partial' in line
    assert 'default_hooks.weights_check.allow_partial=True' in line


@pytest.mark.parametrize('kind',
                         ['unprefixed', 'release', 'foreign', 'partial'])
def test_test_tool_refuses(demo, kind):
    cwd, paths, counts = demo
    proc = run([osp.join(REPO, 'tools', 'test.py'), DEMO, paths[kind],
                '--work-dir', str(cwd / f'test_{kind}')], cwd)
    line = error_line(proc)
    assert line.startswith(f'error: load_from {paths[kind]} (into M = {M}')
    check_refusal(line, kind, counts, paths[kind])
    # refused before the first image
    assert 'Iter(test)' not in proc.stdout + proc.stderr


def metrics_of(work_dir):
    files = sorted(glob.glob(osp.join(str(work_dir), '*', '*.json')))
    assert files, f'no metrics file in {work_dir}'
    with open(files[-1]) as f:
        return json.loads(f.read().splitlines()[-1])


def test_test_tool_allow_partial_warns_and_evaluates(demo):
    cwd, paths, counts = demo
    work = cwd / 'test_allowed'
    proc = run([osp.join(REPO, 'tools', 'test.py'), DEMO, paths['partial'],
                '--work-dir', str(work), '--allow-partial'], cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert 'WARNING - allow_partial=True: evaluating a checkpoint that ' \
        'fills part of the model' in out
    assert 'mIoU' in metrics_of(work)
    # the complete checkpoint passes without a warning
    work = cwd / 'test_full'
    proc = run([osp.join(REPO, 'tools', 'test.py'), DEMO, paths['full'],
                '--work-dir', str(work)], cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'allow_partial' not in proc.stdout + proc.stderr
    assert f"load_from {paths['full']} (into M = {M}; " in \
        proc.stdout + proc.stderr
    assert 'mIoU' in metrics_of(work)


def mmseg_test_tool() -> str:
    import mmseg
    path = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'test.py')
    assert osp.isfile(path), f'mmsegmentation ships no {path}'
    return path


def test_mmseg_test_tool_refuses_and_config_key_opts_out(demo):
    cwd, paths, counts = demo
    proc = run([mmseg_test_tool(), DEMO, paths['unprefixed'], '--work-dir',
                str(cwd / 'mmseg_refused')], cwd)
    assert proc.returncode != 0
    (line, ) = [x for x in proc.stderr.splitlines()
                if 'weights of the evaluated module match' in x]
    assert 'ConfigCheckError' in line
    check_refusal(line, 'unprefixed', counts, paths['unprefixed'])
    assert 'Iter(test)' not in proc.stdout + proc.stderr
    work = cwd / 'mmseg_allowed'
    proc = run([mmseg_test_tool(), DEMO, paths['unprefixed'], '--work-dir',
                str(work), '--cfg-options',
                'default_hooks.weights_check.allow_partial=True'], cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'allow_partial=True: evaluating' in proc.stdout + proc.stderr
    assert 'mIoU' in metrics_of(work)


def val_image(cwd) -> str:
    return str(next((cwd / 'data/demo/cityscapes/leftImg8bit/val').rglob(
        '*.png')))


@pytest.mark.parametrize('kind', ['partial', 'release', 'foreign'])
def test_infer_refuses(demo, kind):
    cwd, paths, counts = demo
    out = cwd / f'infer_{kind}'
    proc = run([osp.join(REPO, 'tools', 'infer.py'), DEMO, paths[kind],
                val_image(cwd), '--out-dir', str(out)], cwd)
    line = error_line(proc)
    assert line.startswith(f'error: {paths[kind]}: ')
    check_refusal(line, kind, counts, paths[kind])
    assert not glob.glob(str(out / 'pred' / '*'))


def test_infer_allow_partial_and_a_complete_plain_checkpoint(demo):
    cwd, paths, counts = demo
    out = cwd / 'infer_allowed'
    proc = run([osp.join(REPO, 'tools', 'infer.py'), DEMO, paths['partial'],
                val_image(cwd), '--out-dir', str(out), '--allow-partial'],
               cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'allow_partial=True: evaluating' in proc.stdout + proc.stderr
    assert len(glob.glob(str(out / 'pred' / '*.png'))) == 1
    # M's complete weights without the BDL prefix are a plain segmentor's
    # checkpoint: every weight is loaded, no warning
    out = cwd / 'infer_plain'
    proc = run([osp.join(REPO, 'tools', 'infer.py'), DEMO,
                paths['unprefixed'], val_image(cwd), '--out-dir', str(out)],
               cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'allow_partial' not in proc.stdout + proc.stderr
    assert len(glob.glob(str(out / 'pred' / '*.png'))) == 1


@pytest.mark.parametrize('kind', ['partial', 'release', 'foreign'])
def test_pseudo_label_refuses(demo, kind):
    cwd, paths, counts = demo
    out = cwd / f'labels_{kind}'
    proc = run([osp.join(REPO, 'tools', 'pseudo_label.py'), DEMO,
                paths[kind], '--out-dir', str(out), '--no-progress',
                '--device', 'cpu'], cwd)
    line = error_line(proc)
    check_refusal(line, kind, counts, paths[kind])
    assert not glob.glob(str(out / '**' / '*.png'), recursive=True)


@pytest.mark.parametrize('kind',
                         ['translator_unprefixed', 'release', 'foreign'])
def test_translate_refuses(demo, kind):
    cwd, paths, counts = demo
    img_dir = cwd / 'data' / 'demo' / 'gta5' / 'images'
    assert glob.glob(str(img_dir / '*.png'))
    out = cwd / f'translated_{kind}'
    proc = run([osp.join(REPO, 'tools', 'translate.py'), DEMO, paths[kind],
                '--img-dir', str(img_dir), '--out-dir', str(out),
                '--device', 'cpu'], cwd)
    line = error_line(proc)
    assert line.startswith(f'error: {paths[kind]} (into the generators, '
                           'translator.generators.*): 0/'
                           f"{counts['gen']} weights of the evaluated "
                           'module match')
    if kind == 'translator_unprefixed':
        assert "add the prefix 'translator.'" in line
    else:
        assert 'no prefix change makes its keys fit' in line
    # the converter handles segmentors and discriminators only
    assert CONVERTER not in line
    assert '--allow-partial' in line
    assert not glob.glob(str(out / '*.png'))
