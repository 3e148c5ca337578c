"""``rehearse.py --plan-only`` on the VFM-UDA configs: the plan's kinds
from ``train_cfg.plan``, the online kinds' FLOPs counted from their loss
terms (with the backbone's input resize), the projection of the plan and
the memory probe's CPU set-up (fp32 wrappers, ignore masks, no target
labels, scaled input resize)."""
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config
from torch.utils.flop_counter import FlopCounterMode

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools', 'analysis'))

from rehearsal import memory_probe, planning, projection  # noqa: E402
from rehearsal.step_terms import config_kinds  # noqa: E402
from rehearsal.step_terms import step_passes  # noqa: E402
from rehearsal.step_terms import is_online, runs_teacher  # noqa: E402

CFG_DIR = osp.join(REPO, 'configs', 'vfm-uda')
TAIL = '_dinov2-vitb14_1xb8-40k_gta5-to-cityscapes-1024x1024.py'
RECIPE = osp.join(CFG_DIR, 'vfm-uda' + TAIL)
ADV = osp.join(CFG_DIR, 'bdl-vfm-uda-adv' + TAIL)
PAPER = osp.join(REPO, 'configs/bdl/bdl_dinov2-vitb14_1xb1-k2n2_gta5-to-'
                 'cityscapes-504x504.py')
OFFLINE = osp.join(REPO, 'configs/bdl/bdl-offline_dinov2-vitb14_1xb1-k2n2_'
                   'gta5-to-cityscapes-504x504.py')
# a 2-block ViT of width 32 (same patch size, input resize and head)
SHRINK = {
    'model.segmentor.segmentor.backbone.embed_dims': 32,
    'model.segmentor.segmentor.backbone.num_layers': 2,
    'model.segmentor.segmentor.backbone.num_heads': 2,
    'model.segmentor.segmentor.decode_head.in_channels': 32,
}


@pytest.fixture(scope='module', autouse=True)
def registered():
    from mmbdl.utils import register_all_modules
    register_all_modules(init_default_scope=True)


def _cfg(path, shrink=True):
    cfg = Config.fromfile(path)
    if shrink:
        cfg.merge_from_dict(SHRINK)
    return cfg


def test_plan_kinds_come_from_train_cfg_plan():
    assert config_kinds(_cfg(RECIPE)) == ['uda']
    assert config_kinds(_cfg(ADV)) == ['uda', 'translation',
                                       'adaptation', 'self_training']
    # the paper's plan (no train_cfg.plan): K / N logic as before
    paper = _cfg(PAPER, shrink=False)
    assert config_kinds(paper) == ['source_only', 'translation',
                                   'adaptation', 'self_training']
    assert config_kinds(paper, ssl_rounds=0) == ['source_only',
                                                 'translation', 'adaptation']
    # that ViT leaf labels online with an EMA teacher by default; its
    # offline-rounds variant reads pseudo-label files
    assert is_online(paper, 'self_training')
    assert not is_online(_cfg(OFFLINE, shrink=False), 'self_training')
    # the variants: the teacher labels the recipe's phases online, BDL's
    # rounds read files (train_cfg.self_training per kind)
    assert is_online(_cfg(ADV), 'uda')
    assert not is_online(_cfg(ADV), 'self_training')
    assert not is_online(_cfg(ADV), 'adaptation')
    assert runs_teacher(_cfg(ADV), 'adaptation')  # the recipe's terms
    assert not runs_teacher(_cfg(ADV), 'self_training')


def test_step_passes_read_the_loss_terms():
    uda = step_passes(_cfg(RECIPE), 'uda')
    assert uda['student'] == ['source', 'mixed', 'masked']
    assert uda['teacher'] == 2  # ema_cfg.flip: the image and its flip
    assert not uda['discriminator']
    adv = step_passes(_cfg(ADV), 'adaptation')
    # the adversarial term adds M on the unmasked target and D
    assert adv['student'] == ['source', 'mixed', 'masked', 'target']
    assert adv['teacher'] == 2 and adv['discriminator']
    # BDL's offline round: source CE, Eq. 3 on the target, adversarial
    ssl = step_passes(_cfg(ADV), 'self_training')
    assert ssl['student'] == ['source', 'target']
    assert ssl['teacher'] == 0 and ssl['discriminator']
    cfg = _cfg(RECIPE)
    cfg.model.segmentor.ema_cfg.flip = False
    assert step_passes(cfg, 'uda')['teacher'] == 1


def _forward_flops(module, x):
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module(x)
    return counter.get_total_flops()


def test_uda_flops_are_9_student_and_2_teacher_forwards_x_batch():
    cfg = _cfg(RECIPE)
    kinds = planning.estimate_kind_flops(cfg, 'gta5')
    assert set(kinds) == {'uda'}
    # independently: one forward of the shrunk segmentor on a 1024 crop
    from mmbdl.registry import MODELS
    seg_cfg = cfg.model.segmentor.segmentor.to_dict()
    seg = MODELS.build(seg_cfg).to('meta').eval()
    x = torch.empty(1, 3, 1024, 1024, device='meta')
    fwd = _forward_flops(lambda t: seg(t, None, mode='tensor'), x)
    assert kinds['uda']['flops_per_step'] == (9 * fwd + 2 * fwd) * 8
    # the forward includes the backbone's resize to 1120: the backbone on
    # a 1024 crop costs what the same backbone without resize costs on
    # 1120 x 1120 (80 x 80 patches)
    assert seg_cfg['backbone']['input_resize'] == 1120
    no_resize = dict(seg_cfg['backbone'], input_resize=None)
    plain = MODELS.build(no_resize).to('meta').eval()
    big = torch.empty(1, 3, 1120, 1120, device='meta')
    assert _forward_flops(seg.backbone, x) == _forward_flops(plain, big)
    small = torch.empty(1, 3, 1022, 1022, device='meta')
    assert _forward_flops(seg.backbone, x) > 1.15 * _forward_flops(
        plain, small)  # about the crop without resize: 73 x 73 patches


def test_adv_adaptation_adds_a_target_pass_and_d():
    cfg = _cfg(ADV)
    kinds = planning.estimate_kind_flops(cfg, 'gta5',
                                         ['uda', 'adaptation'])
    uda, st = kinds['uda'], kinds['adaptation']
    fwd = uda['student_forward']['target']
    d_fwd = st['disc_forward']
    assert st['flops_per_step'] - uda['flops_per_step'] == 8 * (
        3 * fwd + 3 * (2 * d_fwd['source'] + d_fwd['target']))


def test_projection_follows_the_plan():
    cfg = _cfg(ADV)
    train_cfg = cfg.train_cfg.to_dict()
    kinds = dict(uda=dict(flops_per_step=2e12),
                 translation=dict(flops_per_step=1e12),
                 adaptation=dict(flops_per_step=3e12),
                 self_training=dict(flops_per_step=1e12))
    proj = projection.project(train_cfg, 'gta5', kinds, {}, 1e9)
    assert [(p['kind'], p['iters']) for p in proj['phases']] == [
        ('uda', 40000), ('translation', 20 * 6242), ('adaptation', 40000),
        ('self_training', 40000), ('self_training', 40000)]
    items = [r['item'] for r in proj['rows']]
    # one S'; pseudo-label files for BDL's two offline rounds only (the
    # teacher labels the recipe's phases online)
    assert any(i.startswith("S'(k) of 24,966") for i in items)
    assert any(i.startswith('pseudo-labels of 2,975 Cityscapes train '
                            'images x 2 ') for i in items)
    gpu = 20e12  # the stated assumption
    assert proj['gpu_note'].startswith('ASSUMPTION')
    assert proj['per_kind']['uda']['gpu_seconds'] == pytest.approx(
        40000 * 2e12 / gpu)
    assert proj['per_kind']['translation']['iters'] == 20 * 6242
    train = sum(v['gpu_seconds'] for v in proj['per_kind'].values())
    assert train == pytest.approx(
        (40000 * 5e12 + 124840 * 1e12 + 80000 * 1e12) / gpu)


def test_cpu_probe_setup():
    mp = memory_probe
    cfg = _cfg(ADV)
    optim, replaced = mp.cpu_optim_config(cfg.optim_wrapper.to_dict())
    assert replaced == 1
    seg = optim['segmentation']['segmentor']
    assert seg['type'] == 'OptimWrapper' and 'dtype' not in seg
    assert optim['segmentation']['discriminator']['type'] == 'OptimWrapper'
    # the recipe's rule at the probe's crops (and at the real one)
    assert mp.scaled_input_resize(1120, 1024, 1024, 14) == 1120
    assert mp.scaled_input_resize(1120, 1024, 280, 14) == 308
    assert mp.scaled_input_resize(490, 448, 112, 14) == 112
    assert mp.scaled_input_resize(518, 504, 252, 14) == 252  # by the ratio
    batch = mp.uda_batch((28, 28), (42, 28), 2, 19, target_labels=False,
                         ignore_mask=True)
    tgt = batch['data_samples']['target']
    assert all('gt_sem_seg' not in s for s in tgt)
    assert tgt[0].ignore_mask.data.shape == (1, 28, 42)
    assert tgt[0].ignore_mask.data.dtype == torch.uint8
    assert 'ignore_mask' not in batch['data_samples']['source'][0]
    # the variants' self-training on S' is the recipe's step; adv's is not
    assert mp.same_step_as(cfg, 'adaptation', ['uda']) is None


def test_uda_probe_step_runs_on_cpu_at_a_small_scale():
    from rehearsal.memory_model import step_peak
    cfg = _cfg(RECIPE)
    sizes = dict(source=(1024, 1024), target=(1024, 1024), batch=1,
                 crop=(448, 448), translation_batch=4)
    step, pixels = memory_probe.kind_step(cfg, 'uda', sizes, 0.1)
    assert pixels == 2 * 112 * 112  # 1024 x 0.1 in whole 56-pixel sides
    assert step_peak(step) > 0


def test_uda_probe_step_runs_under_cpu_bf16_autocast():
    from rehearsal.memory_model import step_peak
    cfg = _cfg(RECIPE)
    sizes = dict(source=(1024, 1024), target=(1024, 1024), batch=1,
                 crop=(448, 448), translation_batch=4, autocast='bfloat16')
    step, pixels = memory_probe.kind_step(cfg, 'uda', sizes, 0.1)
    assert pixels == 2 * 112 * 112
    assert step_peak(step) > 0
