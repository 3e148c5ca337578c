"""``benchmark_lora.py``: full fine-tuning against the LoRA switch of a
DINOv2 config, from one run (a 2-block ViT of width 32 at 1/4 crops)."""
import os.path as osp
import re
import subprocess
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools/analysis/benchmark_lora.py')
VITB = osp.join(
    REPO, 'configs/bdl/bdl_dinov2-vitb14_1xb1-k2n2_gta5-to-cityscapes-'
    '504x504.py')
SHRINK = [
    'model.segmentor.segmentor.backbone.embed_dims=32',
    'model.segmentor.segmentor.backbone.num_layers=2',
    'model.segmentor.segmentor.backbone.num_heads=2',
    'model.segmentor.segmentor.decode_head.in_channels=32',
    'model.segmentor.segmentor.decode_head.channels=8',
]


def _run(*args):
    return subprocess.run([sys.executable, TOOL, *args], capture_output=True,
                          text=True, cwd=REPO, timeout=600)


def test_lora_against_full_fine_tuning():
    proc = _run(VITB, '--scale', '0.25', '--threads', '1', '--iters', '1',
                '--kinds', 'adaptation', '--cfg-options', *SHRINK)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # 504 x 1/4 = 126 -> 112: whole 14-pixel patches and F's multiple of 8
    assert 'source (112, 112), target (112, 112)' in proc.stdout
    rows = {name: (int(n.replace(',', '')), float(t), float(m))
            for name, n, t, m in re.findall(
                r'^\| adaptation \| (full|lora) \| ([\d,]+) \| ([\d.]+) \| '
                r'([\d.]+) \|', proc.stdout, flags=re.M)}
    assert set(rows) == {'full', 'lora'}, proc.stdout
    full, lora = rows['full'], rows['lora']
    # LoRA trains the adapters and the head only: the 2 blocks' qkv
    # adapters (2 x 8 x (32 + 96)) and not the ViT's own weights
    assert lora[0] < full[0] / 4
    assert full[0] - lora[0] > 2 * 3 * 32 * 32  # at least the qkv weights
    assert all(v[1] > 0 and v[2] > 0 for v in rows.values())
    ratio = re.search(r'^\| adaptation \| lora / full \| ([\d.]+) \|',
                      proc.stdout, flags=re.M)
    assert abs(float(ratio.group(1)) - lora[0] / full[0]) < 1e-4


def test_refuses_a_config_without_a_vit():
    proc = _run(osp.join(REPO, 'configs/bdl/bdl_demo.py'))
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('error: ') and 'no DINOv2 backbone' in last
