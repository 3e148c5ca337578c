"""Each loss term of M against an independent computation on tiny tensors,
and the refusals of bad term configs."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper, OptimWrapperDict
from tiny_uda import tiny_uda_cfg, uda_batch

from mmbdl.models.uda_terms import (Adversarial, MaskedConsistency,
                                    PseudoLabelCE, SourceCE, UDAStep,
                                    block_mask, build_loss_term)
from mmbdl.registry import MODELS


def build(ema=False, **kwargs):
    torch.manual_seed(0)
    cfg = tiny_uda_cfg()
    if ema:
        cfg['type'] = 'EMATeacherSegmentor'
        cfg['ema_cfg'] = dict(pseudo_threshold=0.4)
    cfg.update(kwargs)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def wrappers(model):
    return OptimWrapperDict(
        segmentor=OptimWrapper(torch.optim.SGD(
            model.segmentor.parameters(), lr=0.1)),
        discriminator=OptimWrapper(torch.optim.SGD(
            model.discriminator.parameters(), lr=0.1)))


def step_of(model, batch):
    return UDAStep(model, *model._split_branches(copy.deepcopy(batch)))


def logits_of(model, images):
    seg = model.segmentor
    return seg.decode_head.forward(seg.extract_feat(images))


def up(logits, size):
    return F.interpolate(logits.float(), size, mode='bilinear',
                         align_corners=True)


def bce(z, label):
    # -[y log s(z) + (1 - y) log(1 - s(z))], by hand
    s = torch.sigmoid(z)
    return -(label * torch.log(s) + (1 - label) * torch.log(1 - s)).mean()


def test_source_ce_is_the_mean_pixel_cross_entropy():
    model = build()
    batch = uda_batch(2, seed=4)
    step = step_of(model, batch)
    losses = SourceCE().loss(step)
    logits = logits_of(model, step.source)
    labels = torch.stack([s.gt_sem_seg.data[0]
                          for s in step.source_samples]).long()
    logp = torch.log_softmax(up(logits, labels.shape[-2:]), 1)
    hand = -logp.gather(1, labels[:, None]).mean()
    torch.testing.assert_close(losses['src.loss_ce'], hand)
    torch.testing.assert_close(step.source_logits, logits)


def test_adversarial_loss_and_discriminator_step():
    model = build()
    batch = uda_batch(1, seed=5)
    step = step_of(model, batch)
    term = Adversarial(lambda_adv=0.25, disc_loss_weight=0.5)
    tgt = step.target
    probs = up(logits_of(model, tgt), tgt.shape[-2:]).softmax(1)
    hand = 0.25 * bce(model.discriminator(probs), 0.0)
    torch.testing.assert_close(term.loss(step)['tgt.loss_adv'], hand,
                               rtol=1e-5, atol=1e-6)
    SourceCE().loss(step)
    src_probs = up(step.source_logits, step.source.shape[-2:]).softmax(1)
    d_src = 0.5 * bce(model.discriminator(src_probs), 0.0)
    d_tgt = 0.5 * bce(model.discriminator(probs), 1.0)
    before = [p.detach().clone() for p in model.discriminator.parameters()]
    logs = term.extra_step(step, wrappers(model))
    torch.testing.assert_close(logs['disc.loss_src'], d_src, rtol=1e-5,
                               atol=1e-6)
    torch.testing.assert_close(logs['disc.loss_tgt'], d_tgt, rtol=1e-5,
                               atol=1e-6)
    assert any(not torch.equal(a, b) for a, b in zip(
        before, model.discriminator.parameters()))


def test_pseudo_label_ce_is_the_weighted_mean_over_labelled_pixels():
    model = build()
    batch = uda_batch(2, pseudo=True, weights=True, seed=6)
    step = step_of(model, batch)
    term = PseudoLabelCE(loss_weight=2.0)
    term.check_batch(step)
    loss = term.loss(step)['pseudo.loss_ce']
    labels = torch.stack([s.gt_sem_seg.data[0]
                          for s in step.target_samples]).long()
    weights = torch.stack([s.gt_seg_weight.data[0]
                           for s in step.target_samples])
    logp = torch.log_softmax(up(logits_of(model, step.target), (32, 32)), 1)
    valid = labels != 255
    ce = -logp.gather(1, labels.clamp(max=2)[:, None])[:, 0]
    hand = (ce * weights)[valid].sum() / valid.sum()
    torch.testing.assert_close(loss, 2.0 * hand)


def test_pseudo_label_ce_refuses_a_target_without_labels():
    model = build()
    step = step_of(model, uda_batch(1))
    with pytest.raises(ValueError,
                       match="'pseudo_label_ce'.*pseudo_label_dir"):
        PseudoLabelCE().check_batch(step)


def test_mic_mask_is_the_release_rule():
    torch.manual_seed(3)
    state = torch.get_rng_state()
    mask = block_mask((2, 3, 100, 200), 64, 0.7)
    torch.set_rng_state(state)
    # the release: rand(B, 1, round(H / b), round(W / b)) > ratio, resized
    # to (H, W) by nearest neighbour, written out here by index
    grid = (torch.rand(2, 1, round(100 / 64), round(200 / 64)) > 0.7).float()
    rows = (torch.arange(100) * grid.shape[2] / 100).floor().long()
    cols = (torch.arange(200) * grid.shape[3] / 200).floor().long()
    assert torch.equal(mask, grid[:, :, rows][:, :, :, cols])
    assert mask.shape == (2, 1, 100, 200)


def test_masked_consistency_loss_on_the_masked_target():
    model = build(ema=True)
    batch = uda_batch(2, tgt_hw=(32, 32), seed=7)
    step = step_of(model, batch)
    term = MaskedConsistency(mask_block_size=8, color_jitter=0.0)
    term.check_batch(step)
    labels, weights = step.teacher_labels()
    torch.manual_seed(11)
    loss = term.loss(step)['mic.loss_ce']
    torch.manual_seed(11)
    grid = (torch.rand(2, 1, 4, 4) > 0.7).float()
    mask = grid.repeat_interleave(8, 2).repeat_interleave(8, 3)
    logits = logits_of(model, step.target * mask)
    ce = F.cross_entropy(up(logits, (32, 32)), labels, reduction='none')
    torch.testing.assert_close(loss, (ce * weights).mean())
    q = float(step.log_vars['ema.pseudo_quality'])
    assert torch.all(weights == q)


@pytest.mark.parametrize('kwargs, match', [
    (dict(mask_ratio=1.0), r'mask_ratio must be in \[0, 1\)'),
    (dict(mask_ratio=-0.1), r'mask_ratio must be in \[0, 1\)'),
    (dict(mask_block_size=0), 'mask_block_size'),
])
def test_bad_mask_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MaskedConsistency(**kwargs)


def test_block_larger_than_the_crop_is_refused():
    model = build(ema=True)
    step = step_of(model, uda_batch(1, tgt_hw=(32, 32)))
    with pytest.raises(ValueError, match='mask_block_size=64.*32x32'):
        MaskedConsistency().check_batch(step)


def test_unknown_term_type_names_the_registered_ones():
    with pytest.raises(ValueError) as err:
        build_loss_term(dict(type='SourceCrossEntropy'))
    for name in ('SourceCE', 'Adversarial', 'PseudoLabelCE',
                 'TeacherPseudoLabel', 'ClassMix', 'MaskedConsistency'):
        assert name in str(err.value)


def test_missing_sub_models_are_refused_naming_the_key():
    with pytest.raises(ValueError, match="teacher.*EMATeacherSegmentor"):
        build(loss_terms=dict(self_training=[dict(type='MaskedConsistency')]))
    cfg = dict(discriminator=None, uda_cfg=dict(adversarial=False),
               loss_terms=dict(adaptation=[dict(type='Adversarial')]))
    with pytest.raises(ValueError, match='discriminator=dict'):
        build(**cfg)


def test_the_step_sums_the_configured_terms_in_order():
    terms = [dict(type='SourceCE'), dict(type='Adversarial'),
             dict(type='TeacherPseudoLabel'),
             dict(type='MaskedConsistency', mask_block_size=8)]
    model = build(ema=True, loss_terms=dict(self_training=terms))
    model.set_phase('self_training', ('source_ce', ))
    assert [t.name for t in model.active_terms()] == [
        'source_ce', 'adversarial', 'teacher_pseudo_label',
        'masked_consistency']
    logs = model.train_step(uda_batch(1, seed=8), wrappers(model))
    parts = ('src.loss_ce', 'tgt.loss_adv', 'pseudo.loss_ce', 'mic.loss_ce')
    torch.testing.assert_close(logs['loss'], sum(logs[k] for k in parts))
    assert {'disc.loss_src', 'disc.loss_tgt', 'ema.pseudo_quality'} <= set(
        logs)


def test_phase_roles_choose_the_terms_not_the_batch():
    model = build()
    model.set_phase('adaptation', ('source_ce', 'adversarial'))
    # labelled target samples do not switch the pseudo-label term on
    logs = model.train_step(uda_batch(1, pseudo=True), wrappers(model))
    assert 'pseudo.loss_ce' not in logs and 'tgt.loss_adv' in logs
    model.set_phase('self_training',
                    ('source_ce', 'adversarial', 'pseudo_labels'))
    with pytest.raises(ValueError, match="'pseudo_label_ce'"):
        model.train_step(uda_batch(1), wrappers(model))
    model.set_phase('source_only', ('source_ce', 'adversarial'))
    model.adversarial = False
    logs = model.train_step(uda_batch(1), wrappers(model))
    assert set(logs) == {'loss', 'src.loss_ce', 'src.acc_seg'}
