"""``rehearse.py --plan-only --memory``: every phase kind's estimated peak
memory next to the schedule, from the rehearsal's own memory model."""
import os.path as osp
import re
import subprocess
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
VITB = osp.join(
    REPO, 'configs/bdl/bdl_dinov2-vitb14_1xb1-k2n2_gta5-to-cityscapes-'
    '504x504.py')
# the ViT-B config with a 2-block ViT of width 32 and a narrow F: the
# probes run at 1/4 and 1/2 of the config's real sizes (504 and 448 crops)
SHRINK = [
    'model.segmentor.segmentor.backbone.embed_dims=32',
    'model.segmentor.segmentor.backbone.num_layers=2',
    'model.segmentor.segmentor.backbone.num_heads=2',
    'model.segmentor.segmentor.decode_head.in_channels=32',
    'model.segmentor.segmentor.decode_head.channels=8',
    'model.translator.generator.base_channels=8',
    'model.translator.generator.num_blocks=2',
    'model.translator.discriminator.base_channels=8',
]


def _plan(tmp_path, *extra):
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/analysis/rehearse.py'), VITB,
         '--plan-only', '--threads', '1', '--work-dir',
         str(tmp_path / 'plan'), *extra, '--cfg-options', *SHRINK],
        capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_plan_only_memory_table(tmp_path):
    out = _plan(tmp_path, '--memory')
    base = float(re.search(r'this process ([\d.]+) GB', out).group(1))
    assert base > 0.1  # the probing process holds torch and the model
    rows = dict(re.findall(
        r'^\| (source_only|translation|adaptation|self_training) \| '
        r'([\d.]+) \|', out, flags=re.M))
    assert set(rows) == {'source_only', 'translation', 'adaptation',
                         'self_training'}
    # each phase's peak is the process plus a step that costs memory
    assert all(float(v) > base for v in rows.values()), rows
    # nothing written: the plan trains nothing
    assert not osp.exists(tmp_path / 'plan' / 'rehearsal.md')


def test_plan_only_says_when_memory_is_not_estimated(tmp_path):
    out = _plan(tmp_path)
    assert 'Memory: not estimated (add --memory' in out
    assert 'peak GB' not in out
