"""The analysis tools accept the DINOv2 configs (ablation, plan)."""
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools', 'analysis'))

import ablation  # noqa: E402

from mmbdl.utils import load_config  # noqa: E402
from rehearsal.planning import config_input_sizes  # noqa: E402
from seed_sets.configs import load_run_config, parse_options  # noqa: E402

VITB = 'configs/bdl/bdl_dinov2-vitb14_1xb1-k2n2_gta5-to-cityscapes-504x504.py'
VITL = 'configs/bdl/bdl_dinov2-vitl14_1xb1-k2n2_gta5-to-cityscapes-504x504.py'
DEMO_VIT = 'configs/bdl/bdl_demo_vit.py'
PAPER = 'configs/bdl/bdl_deeplabv2-r101_1xb1-k2n2_gta5-to-cityscapes-' \
    '1024x512.py'


@pytest.mark.parametrize('path', [VITB, VITL, DEMO_VIT])
def test_ablation_variants_load(path):
    """Both variants of the ablation resolve for the ViT configs: K >= 2,
    N >= 1, and the no-perceptual overrides reach F's loss."""
    for extra in ablation.VARIANTS.values():
        cfg = load_run_config(osp.join(REPO, path), 0, parse_options(extra))
        train_cfg = cfg['train_cfg']
        if extra:
            assert train_cfg['num_rounds'] == 1
            loss = cfg['model']['translator']['perceptual_loss_cfg']
            assert loss['lambda_per'] == loss['lambda_per_recon'] == 0.0
        else:
            assert train_cfg['num_rounds'] >= 2
            assert train_cfg['num_ssl_rounds'] >= 1


def test_plan_sizes_follow_the_config_crops():
    vitb = config_input_sizes(load_config(osp.join(REPO, VITB)), 'gta5')
    assert vitb == dict(source=(504, 504), target=(504, 504),
                        translation=(448, 448))
    # the paper configs (whole images, the release's F crops): unchanged
    paper = config_input_sizes(load_config(osp.join(REPO, PAPER)), 'gta5')
    assert paper == dict(source=(1280, 720), target=(1024, 512),
                         translation=(452, 452))


def test_rehearse_plan_only_for_vitb(tmp_path):
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/analysis/rehearse.py'),
         osp.join(REPO, VITB), '--plan-only', '--work-dir',
         str(tmp_path / 'plan')],
        capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert 'k2_self_training_i2' in out and '**total**' in out
    assert 'translation' in out and 'GFLOP/step' in out
