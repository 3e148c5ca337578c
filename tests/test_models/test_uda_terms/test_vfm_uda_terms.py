"""VFM-UDA's parts of the loss terms against independent computations of
the release's rules: the in-step augmentations, the batch-wide class-mix
rule, the teacher's flip averaging, train mode and border mask, the mean
over every pixel, the EMA ramp and the online-UDA phase kind."""
import copy
import logging
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from tiny_uda import tiny_uda_cfg, uda_batch

from mmbdl.engine.hooks.ema_teacher_hook import EMATeacherHook, ramped_alpha
from mmbdl.engine.runner.phase_context import warn_unused_ignore_mask
from mmbdl.engine.runner.phase_kinds import phase_kind
from mmbdl.models.uda_terms import (ClassMix, SourceCE, UDAStep, class_mix,
                                    weighted_pixel_ce)
from mmbdl.models.utils import (ColorAugment, blur_kernel_size, from_unit_rgb,
                                to_unit_rgb)
from mmbdl.registry import MODELS
from mmbdl.utils.errors import ConfigCheckError

IMAGENET = dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                std=[58.395, 57.12, 57.375], bgr_to_rgb=True)


def build(**ema_cfg):
    torch.manual_seed(0)
    cfg = tiny_uda_cfg()
    cfg['type'] = 'EMATeacherSegmentor'
    cfg['ema_cfg'] = dict(dict(pseudo_threshold=0.4), **ema_cfg)
    # the batches below are already normalised; the pre-processor's mean
    # and std are what the augmentations undo and redo
    cfg['data_preprocessor'] = dict(type='UDADataPreProcessor',
                                    source=IMAGENET, target=IMAGENET)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def step_of(model, batch):
    return UDAStep(model, *model._split_branches(copy.deepcopy(batch)))


def teacher_softmax(teacher, images):
    logits = teacher.decode_head.forward(teacher.extract_feat(images))
    return F.interpolate(logits.float(), images.shape[-2:], mode='bilinear',
                         align_corners=True).softmax(1)


# ------------------------------------------------------------ augmentation
@pytest.mark.parametrize('side', [1024, 1000, 512, 64, 37, 10])
def test_blur_kernel_is_the_release_rule(side):
    tenth = np.ceil(0.1 * side)
    release = int(np.floor(tenth - 0.5 + tenth % 2))
    assert blur_kernel_size(side) == release
    assert blur_kernel_size(side) % 2 == 1
    assert blur_kernel_size(1024) == 103 and blur_kernel_size(1000) == 99


@pytest.mark.parametrize('bgr_to_rgb', [True, False])
def test_unit_rgb_round_trip(bgr_to_rgb):
    pre = MODELS.build(dict(IMAGENET, bgr_to_rgb=bgr_to_rgb))
    pixels = torch.rand(2, 3, 5, 7)
    images = from_unit_rgb(pixels, pre)
    # by hand: channels in the pre-processor's order, then normalised
    ordered = pixels if bgr_to_rgb else pixels.flip(1)
    mean = torch.tensor(IMAGENET['mean']).view(3, 1, 1)
    std = torch.tensor(IMAGENET['std']).view(3, 1, 1)
    torch.testing.assert_close(images, (ordered * 255 - mean) / std)
    torch.testing.assert_close(to_unit_rgb(images, pre), pixels)


def test_color_augment_probability_and_identity():
    images = torch.rand(200, 3, 8, 8)
    torch.manual_seed(0)
    same = ColorAugment(brightness=0.5, p=0.0)(images)
    torch.testing.assert_close(same, images)
    torch.manual_seed(0)
    out = ColorAugment(brightness=0.5, p=0.9)(images)
    changed = (out - images).abs().flatten(1).amax(1) > 1e-6
    # 0.9 of 200 images, binomial std 4.2
    assert 165 <= int(changed.sum()) <= 195
    # a 3x3 blur at 32x32 (8x8 images get the rule's 1x1: no blur)
    big = torch.rand(4, 3, 32, 32)
    blurred = ColorAugment(p=0.0, blur_p=1.0)(big)
    assert blurred.std() < 0.8 * big.std()
    torch.testing.assert_close(ColorAugment(p=0.0, blur_p=1.0)(images),
                               images)


def test_bad_augment_config_is_refused():
    with pytest.raises(ConfigCheckError, match='hue'):
        ColorAugment(hue=0.7)
    with pytest.raises(ConfigCheckError, match='augmentation config'):
        SourceCE(augment=dict(brightnes=0.2))


def test_source_ce_sees_the_augmented_source():
    model = build()
    batch = uda_batch(2, seed=3)
    weak = dict(brightness=32 / 255, contrast=0.5, saturation=0.5,
                hue=18 / 360, p=0.9)
    step = step_of(model, batch)
    torch.manual_seed(7)
    losses = SourceCE(augment=weak).loss(step)
    torch.manual_seed(7)
    pre = model.data_preprocessor.source
    images = from_unit_rgb(ColorAugment(**weak)(to_unit_rgb(step.source,
                                                            pre)), pre)
    seg = model.segmentor
    logits = seg.decode_head.forward(seg.extract_feat(images))
    labels = torch.stack([s.gt_sem_seg.data[0]
                          for s in step.source_samples]).long()
    up = F.interpolate(logits, labels.shape[-2:], mode='bilinear',
                       align_corners=True)
    torch.testing.assert_close(losses['src.loss_ce'],
                               F.cross_entropy(up, labels))


# --------------------------------------------------------------- class mix
def test_class_mix_batch_rule_is_the_releases():
    """Half of the values in the whole batch's source labels (255 too),
    rounded up, per image; pasted ignored pixels get weight 0."""
    g = torch.Generator().manual_seed(1)
    n, h, w = 3, 6, 8
    src = torch.randn(n, 3, h, w, generator=g)
    src_lbl = torch.randint(0, 4, (n, h, w), generator=g)
    src_lbl[0, :2] = 255
    src_lbl[2][src_lbl[2] == 3] = 1  # image 2 lacks class 3
    tgt = torch.randn(n, 3, h, w, generator=g)
    pseudo = torch.randint(0, 4, (n, h, w), generator=g)
    weight = torch.full((n, h, w), 0.25)
    torch.manual_seed(5)
    img, lbl, wgt = class_mix(src, src_lbl, tgt, pseudo, weight, 255,
                              classes='batch')
    # independent: DACS' get_class_masks + one_mix with the same draws
    torch.manual_seed(5)
    classes = torch.unique(src_lbl)  # the batch's, ignore value included
    assert classes.tolist() == [0, 1, 2, 3, 255]
    for i in range(n):
        k = int((classes.numel() + classes.numel() % 2) / 2)
        chosen = classes[torch.randperm(classes.numel())[:k]]
        assert chosen.numel() == 3
        mask = (src_lbl[i][None] == chosen.view(-1, 1, 1)).sum(0) > 0
        m = mask.float()
        torch.testing.assert_close(img[i], m * src[i] + (1 - m) * tgt[i])
        exp_lbl = torch.where(mask, src_lbl[i], pseudo[i])
        assert torch.equal(lbl[i], exp_lbl)
        gt_w = (src_lbl[i] != 255).float()
        torch.testing.assert_close(wgt[i], m * gt_w + (1 - m) * weight[i])


def test_class_mix_image_rule_unchanged():
    """The default per-image rule pastes labelled classes only."""
    g = torch.Generator().manual_seed(2)
    src_lbl = torch.randint(0, 5, (2, 6, 6), generator=g)
    src_lbl[:, 0] = 255
    args = (torch.randn(2, 3, 6, 6), src_lbl, torch.randn(2, 3, 6, 6),
            torch.zeros(2, 6, 6, dtype=torch.long), torch.full((2, 6, 6),
                                                               0.5), 255)
    _, lbl, wgt = class_mix(*args)
    assert (lbl != 255).all()
    assert set(wgt.unique().tolist()) <= {0.5, 1.0}
    with pytest.raises(ConfigCheckError, match='classes'):
        class_mix(*args, classes='all')


# ---------------------------------------------------------------- teacher
def test_teacher_flip_average():
    model = build(flip=True)
    images = torch.randn(2, 3, 16, 24)
    probs = model.teacher_probs(images)
    hand = (teacher_softmax(model.teacher, images) + teacher_softmax(
        model.teacher, images.flip(-1)).flip(-1)) / 2
    torch.testing.assert_close(probs, hand)
    labels, weights, quality = model.teacher_pseudo_labels(images)
    assert torch.equal(labels, hand.argmax(1))
    confident = (hand.max(1).values >= 0.4).float().mean()
    torch.testing.assert_close(quality.float(), confident)
    torch.testing.assert_close(weights, torch.full_like(weights,
                                                        float(confident)))


def test_teacher_train_mode_without_dropout():
    model = build(teacher_mode='train')
    model.teacher.decode_head.dropout = torch.nn.Dropout2d(0.5)
    images = torch.randn(2, 3, 16, 16)
    reference = copy.deepcopy(model.teacher).train()
    reference.decode_head.dropout.eval()
    hand = teacher_softmax(reference, images)
    # the dropout (p 0.5) is off, BN uses the batch's statistics
    torch.testing.assert_close(model.teacher_probs(images), hand)
    assert not model.teacher.training  # back in eval mode afterwards
    eval_probs = teacher_softmax(copy.deepcopy(model.teacher).eval(),
                                 images)
    assert not torch.allclose(hand, eval_probs)
    with pytest.raises(ConfigCheckError, match='teacher_mode'):
        build(teacher_mode='student')


def test_border_ignore_mask_zeroes_the_teacher_weights():
    model = build(ignore_mask=True)
    batch = uda_batch(2, seed=6)
    for sample in batch['data_samples']['target']:
        mask = torch.zeros(1, 32, 32, dtype=torch.uint8)
        mask[:, -8:] = 255
        mask[:, :, :1] = 255
        sample.ignore_mask = PixelData(data=mask)
    labels, weights = step_of(model, batch).teacher_labels()
    plain, plain_w, _ = model.teacher_pseudo_labels(
        batch['inputs']['target'])
    assert torch.equal(labels, plain)
    assert (weights[:, -8:] == 0).all() and (weights[:, :, 0] == 0).all()
    torch.testing.assert_close(weights[:, :-8, 1:], plain_w[:, :-8, 1:])
    for sample in batch['data_samples']['target']:
        del sample.ignore_mask
    with pytest.raises(ConfigCheckError, match='BorderIgnoreMask'):
        step_of(model, batch).teacher_labels()


def test_a_border_mask_the_teacher_ignores_is_warned_about(monkeypatch):
    """The pipeline writes the mask, ema_cfg.ignore_mask is off: loud."""
    from mmbdl.engine.runner import phase_context
    logged = []
    monkeypatch.setattr(phase_context, 'print_log',
                        lambda msg, **kw: logged.append((msg, kw['level'])))

    def loader(*extra):
        target = dict(type='UDADataset', target=dict(pipeline=[
            dict(type='LoadImageFromFile'), *extra,
            dict(type='PackSegInputsWithIgnoreMask')]))
        return dict(batch_size=2, dataset=target)

    border = dict(type='mmbdl.BorderIgnoreMask')
    off = SimpleNamespace(segmentor=SimpleNamespace(ema_cfg=dict(
        ignore_mask=False)))
    on = SimpleNamespace(segmentor=SimpleNamespace(ema_cfg=dict(
        ignore_mask=True)))
    assert warn_unused_ignore_mask(off, [loader(border)])
    (message, level), = logged
    assert 'ema_cfg.ignore_mask is False' in message
    assert level == logging.WARNING
    # a phase's own dataloader counts too; built dataloaders are skipped
    assert warn_unused_ignore_mask(off, [object(), loader(), loader(border)])
    assert not warn_unused_ignore_mask(on, [loader(border)])
    assert not warn_unused_ignore_mask(off, [loader()])
    no_teacher = SimpleNamespace(segmentor=SimpleNamespace())
    assert not warn_unused_ignore_mask(no_teacher, [loader(border)])
    assert len(logged) == 2


def test_class_mix_term_with_the_release_settings():
    model = build()
    batch = uda_batch(2, src_hw=(32, 32), seed=8)
    strong = dict(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.2,
                  p=0.8, blur_p=0.5)
    term = ClassMix(classes='batch', target_augment=dict(brightness=0.1),
                    augment=strong, reduction='all')
    step = step_of(model, batch)
    term.prepare(step)
    images, labels, weights = step.extras['class_mix']
    assert images.shape == step.target.shape
    loss = term.loss(step)['pseudo.loss_ce']
    seg = model.segmentor
    logits = seg.decode_head.forward(seg.extract_feat(images))
    up = F.interpolate(logits, labels.shape[-2:], mode='bilinear',
                       align_corners=True)
    hand = (F.cross_entropy(up, labels, ignore_index=255,
                            reduction='none') * weights).mean()
    torch.testing.assert_close(loss, hand)


def test_mean_over_every_pixel():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 4, 5, 5, generator=g)
    labels = torch.randint(0, 4, (2, 5, 5), generator=g)
    labels[0, :2] = 255
    weights = torch.rand(2, 5, 5, generator=g)
    ce = F.cross_entropy(logits, labels, ignore_index=255,
                         reduction='none')
    torch.testing.assert_close(
        weighted_pixel_ce(logits, labels, weights, 255, False, 'all'),
        (ce * weights).mean())
    valid = labels != 255
    torch.testing.assert_close(
        weighted_pixel_ce(logits, labels, weights, 255, False),
        (ce * weights)[valid].sum() / valid.sum())
    with pytest.raises(ConfigCheckError, match='reduction'):
        weighted_pixel_ce(logits, labels, weights, 255, False, 'sum')


# ------------------------------------------------------------- EMA ramp
@pytest.mark.parametrize('step,expected', [(0, 0.0), (1, 0.5), (2, 2 / 3),
                                           (999, 0.999), (1000, 0.999),
                                           (40000, 0.999)])
def test_ramped_alpha_is_the_release_formula(step, expected):
    assert math.isclose(ramped_alpha(step, 0.999),
                        min(1 - 1 / (step + 1), 0.999))
    assert math.isclose(ramped_alpha(step, 0.999), expected)


def test_hook_ramps_from_the_phase_start():
    model = build()
    model.online_self_training = True
    phase = SimpleNamespace(begin=100)
    runner = SimpleNamespace(model=model, iter=100,
                             train_loop=SimpleNamespace(current_phase=phase))
    hook = EMATeacherHook(alpha=0.999, ramp=True)
    teacher0 = [p.clone() for p in model.teacher.parameters()]
    with torch.no_grad():
        for p in model.segmentor.parameters():
            p.add_(1.0)
    hook.after_train_iter(runner, 0)  # the phase's first step: alpha 0.5
    for t0, t, s in zip(teacher0, model.teacher.parameters(),
                        model.segmentor.parameters()):
        torch.testing.assert_close(t, 0.5 * t0 + 0.5 * s)
    runner.iter = 100 + 1999  # its 2000th step: alpha 0.999
    teacher1 = [p.clone() for p in model.teacher.parameters()]
    hook.after_train_iter(runner, 0)
    for t1, t, s in zip(teacher1, model.teacher.parameters(),
                        model.segmentor.parameters()):
        torch.testing.assert_close(t, 0.999 * t1 + 0.001 * s)


# ------------------------------------------------------------- phase kind
def test_online_uda_phase_kind():
    spec = phase_kind('uda')
    assert spec.consumes == ('pseudo_labels', )
    assert spec.loss_terms == ('source_ce', 'pseudo_labels')
    assert spec.adversarial is False and spec.default_init == 'continue'
    assert spec.phase_name(1, 0) == 'k1_uda'
    assert spec.model_name(1, 0) == 'M_uda^(1)'


def test_token_masking_needs_a_vit_with_a_mask_token():
    from mmbdl.models.uda_terms import MaskedConsistency
    model = build()  # a DeepLab-shaped M: no patch tokens
    with pytest.raises(ConfigCheckError, match="mask_mode='blocks'"):
        MaskedConsistency(mask_mode='tokens').check(model)
    step = step_of(model, uda_batch(1, seed=9))
    with pytest.raises(ConfigCheckError, match="mask_mode='blocks'"):
        step.student_logits(step.target, token_mask_ratio=0.7)
    with pytest.raises(ConfigCheckError, match='mask_mode'):
        MaskedConsistency(mask_mode='pixels')


def test_self_training_mode_per_phase_kind():
    from mmbdl.engine.runner.phase_plan import check_self_training, mode_of
    model = SimpleNamespace(segmentor=build())
    init = dict(uda='continue', translation='initial',
                adaptation='continue', self_training='initial')
    mixed = dict(uda='ema_teacher', self_training='offline')
    assert mode_of(mixed, 'uda') == 'ema_teacher'
    assert mode_of(mixed, 'self_training') == 'offline'
    assert mode_of(mixed, 'adaptation') == 'offline'
    hooks = ['EMATeacherHook', 'PseudoLabelHook']
    check_self_training(mixed, model, hooks, init)  # both hooks needed
    with pytest.raises(ConfigCheckError, match='EMATeacherHook'):
        check_self_training(mixed, model, ['PseudoLabelHook'], init)
    with pytest.raises(ConfigCheckError, match='remove the PseudoLabelHook'):
        check_self_training('ema_teacher', model, hooks,
                            dict(init, self_training='continue'))
    with pytest.raises(ConfigCheckError, match='not in the plan'):
        check_self_training(dict(target_finetune='offline'), model, hooks,
                            init)
    with pytest.raises(ConfigCheckError, match='one of'):
        check_self_training(dict(uda='online'), model, hooks, init)
    # an online kind must continue from the model its teacher copies
    with pytest.raises(ConfigCheckError, match="init.uda='continue'"):
        check_self_training(mixed, model, hooks, dict(init, uda='initial'))
