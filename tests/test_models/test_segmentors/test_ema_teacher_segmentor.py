"""EMATeacherSegmentor: teacher copy, EMA, online labels, quality and
class-mix."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper, OptimWrapperDict
from tiny_uda import tiny_uda_cfg, uda_batch

from mmbdl.models.uda_terms import ClassMix, TeacherPseudoLabel, UDAStep
from mmbdl.registry import MODELS


def build(**ema):
    torch.manual_seed(0)  # a fixed tiny model: q strictly between 0 and 1
    cfg = tiny_uda_cfg()
    cfg['type'] = 'EMATeacherSegmentor'
    cfg['ema_cfg'] = ema
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def wrappers(model):
    return OptimWrapperDict(
        segmentor=OptimWrapper(torch.optim.SGD(
            model.segmentor.parameters(), lr=0.1)),
        discriminator=OptimWrapper(torch.optim.SGD(
            model.discriminator.parameters(), lr=0.1)))


def params(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_teacher_is_a_frozen_eval_copy():
    model = build()
    for (name, t), s in zip(model.teacher.state_dict().items(),
                            model.segmentor.state_dict().values()):
        assert torch.equal(t, s), name
    assert not any(p.requires_grad for p in model.teacher.parameters())
    model.train()
    assert model.segmentor.training and not model.teacher.training
    # the teacher is saved with the model (resume-exact)
    keys = model.state_dict().keys()
    assert any(k.startswith('teacher.') for k in keys)
    assert 'ema_pixel_stats' in keys


def test_ema_update_formula():
    model = build()
    with torch.no_grad():
        for p in model.segmentor.parameters():
            p.add_(1.0)
    before = params(model.teacher)
    student = params(model.segmentor)
    model.ema_update(0.9)
    after = params(model.teacher)
    for key, value in after.items():
        if value.is_floating_point():
            torch.testing.assert_close(
                value, 0.9 * before[key] + 0.1 * student[key])
        else:
            assert torch.equal(value, student[key])


def test_offline_behaviour_is_unchanged_when_not_online():
    model = build()
    logs = model.train_step(uda_batch(2), wrappers(model))
    assert 'pseudo.loss_ce' not in logs
    assert 'ema.pseudo_quality' not in logs


def test_online_step_labels_with_the_teacher_and_weights_by_quality():
    model = build(pseudo_threshold=0.4)
    model.train()
    model.online_self_training = True
    batch = uda_batch(2, seed=3)
    tgt = batch['inputs']['target']
    # the labels and the quality the teacher gives, computed by hand
    with torch.no_grad():
        t = model.teacher
        logits = t.decode_head.forward(t.extract_feat(tgt))
        probs = F.interpolate(logits, tgt.shape[-2:], mode='bilinear',
                              align_corners=True).softmax(1)
        conf, expected = probs.max(1)
        quality = float((conf >= 0.4).float().mean())
    assert 0.0 < quality < 1.0
    teacher_before = params(model.teacher)
    student_before = params(model.segmentor)
    logs = model.train_step(copy.deepcopy(batch), wrappers(model))
    assert 'pseudo.loss_ce' in logs and logs['pseudo.loss_ce'] > 0
    # the labels were attached to the target samples the loss saw
    labels, weights = model.teacher_labels(tgt)
    assert torch.equal(labels, expected)
    torch.testing.assert_close(weights, torch.full_like(weights, quality))
    # training moves M, not the teacher (the hook does that)
    assert params(model.teacher).keys() == teacher_before.keys()
    for k, v in params(model.teacher).items():
        assert torch.equal(v, teacher_before[k]), k
    assert any(not torch.equal(v, student_before[k])
               for k, v in params(model.segmentor).items()
               if v.is_floating_point())
    # the step reports its quality and the phase's ratio as tensors in its
    # log variables (no host sync); the phase's statistics are the model's
    assert torch.is_tensor(logs['ema.pseudo_quality'])
    assert float(logs['ema.pseudo_quality']) == pytest.approx(quality)
    assert float(logs['ema.pixel_ratio']) == pytest.approx(quality)
    stats = model.label_statistics()
    assert stats['source'] == 'ema_teacher'
    assert stats['pixel_ratio'] == pytest.approx(quality)


def step_of(model, batch):
    """The UDAStep the model builds for a pre-processed batch."""
    return UDAStep(model, *model._split_branches(batch))


def test_pseudo_loss_equals_quality_times_mean_ce():
    model = build(pseudo_threshold=0.4)
    model.online_self_training = True
    batch = uda_batch(1, seed=1)
    step = step_of(model, copy.deepcopy(batch))
    term = TeacherPseudoLabel()
    term.prepare(step)
    loss = term.loss(step)['pseudo.loss_ce']
    labels, weights = step.teacher_labels()
    q = float(weights.flatten()[0])
    assert torch.all(weights == q) and 0 < q < 1
    seg = model.segmentor
    logits = seg.decode_head.forward(seg.extract_feat(step.target))
    up = F.interpolate(logits, step.target.shape[-2:], mode='bilinear',
                       align_corners=True)
    ce = F.cross_entropy(up, labels)
    torch.testing.assert_close(loss, q * ce)
    # the teacher labelled the batch once; the step logs its quality
    assert float(step.log_vars['ema.pseudo_quality']) == pytest.approx(q)


def test_class_mix_pastes_half_of_the_source_classes():
    model = build(class_mix=True)
    model.online_self_training = True
    assert [t.name for t in model.active_terms()] == [
        'source_ce', 'adversarial', 'class_mix']
    batch = uda_batch(1, src_hw=(32, 32), tgt_hw=(32, 32), seed=2)
    src_label = torch.zeros(1, 32, 32, dtype=torch.long)
    src_label[:, :, 16:] = 1
    batch['data_samples']['source'][0].gt_sem_seg.data = src_label
    torch.manual_seed(0)
    step = step_of(model, copy.deepcopy(batch))
    term = ClassMix()
    term.prepare(step)
    mixed, label, weight = step.extras['class_mix']
    label, weight = label[0], weight[0]
    # one of the two source classes was pasted: exactly one half
    left = torch.equal(mixed[0][:, :, :16], batch['inputs']['source'][0][
        :, :, :16])
    right = torch.equal(mixed[0][:, :, 16:], batch['inputs']['source'][0][
        :, :, 16:])
    assert left != right
    pasted = slice(0, 16) if left else slice(16, 32)
    kept = slice(16, 32) if left else slice(0, 16)
    assert torch.equal(label[:, pasted], src_label[0][:, pasted])
    assert torch.all(weight[:, pasted] == 1.0)
    assert torch.equal(mixed[0][:, :, kept],
                       batch['inputs']['target'][0][:, :, kept])
    assert torch.all(weight[:, kept] < 1.0)
    # the loss is M's on the mixed image
    seg = model.segmentor
    logits = seg.decode_head.forward(seg.extract_feat(mixed))
    up = F.interpolate(logits, (32, 32), mode='bilinear', align_corners=True)
    ce = F.cross_entropy(up, label[None], reduction='none') * weight[None]
    torch.testing.assert_close(term.loss(step)['pseudo.loss_ce'], ce.mean())
    # and the step trains with it
    logs = model.train_step(copy.deepcopy(batch), wrappers(model))
    assert logs['pseudo.loss_ce'] > 0


def test_labels_already_present_are_refused():
    model = build()
    model.online_self_training = True
    with pytest.raises(ValueError, match='pseudo_label_dir'):
        model.train_step(uda_batch(1, pseudo=True), wrappers(model))


def test_head_without_align_corners_names_the_head_and_key():
    from mmbdl.utils import head_align_corners

    class Head(torch.nn.Module):
        pass

    class Seg(torch.nn.Module):
        decode_head = Head()

    with pytest.raises(AttributeError) as err:
        head_align_corners(Seg())
    assert 'Head' in str(err.value)
    assert 'decode_head.align_corners' in str(err.value)
    assert head_align_corners(build().segmentor) is True


def test_unknown_ema_key():
    cfg = tiny_uda_cfg()
    cfg.update(type='EMATeacherSegmentor', ema_cfg=dict(alhpa=0.9))
    with pytest.raises(ValueError, match='alhpa'):
        MODELS.build(cfg)
