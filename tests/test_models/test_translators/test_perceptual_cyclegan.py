"""PerceptualCycleGAN: equality with MMagic's CycleGAN, the perceptual loss,
the frozen segmentor and the bad-input errors."""
import copy

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine import MessageHub
from tiny_translator import (build_translator, make_batch, make_optim,
                             tiny_segmentor_cfg, tiny_translator_cfg)

from mmbdl.models.translators import (PerceptualCycleGAN,
                                      generator_to_segmentor_input)
from mmbdl.registry import MODELS


def _set_iter(i: int) -> None:
    MessageHub.get_current_instance().update_info('iter', i)


def _gan_state(model) -> dict:
    """Generator/discriminator weights (no perceptual model)."""
    return {k: v.clone() for k, v in model.state_dict().items()
            if k.startswith(('generators.', 'discriminators.'))}


@pytest.fixture(scope='module')
def model():
    return build_translator(tiny_translator_cfg())


def test_structure_and_defaults(model):
    assert isinstance(model, PerceptualCycleGAN)
    assert set(model.generators) == {'source', 'target'}
    assert model.perceptual_loss_cfg == dict(
        loss_type='mse_in', lambda_per=0.1, lambda_per_recon=10.0)
    assert all(not p.requires_grad
               for p in model.perceptual_model.parameters())
    assert all(p.requires_grad for p in model.generators.parameters())
    # eval mode survives model.train() and MMagic's forward_test trick,
    # which calls self.train()
    model.train()
    assert model.generators.training and not model.perceptual_model.training
    model.forward_test(torch.zeros(1, 3, 16, 16), target_domain='target')
    assert not model.perceptual_model.training
    assert not any(m.training for m in model.perceptual_model.modules())


@pytest.mark.slow  # two CycleGAN steps per variant
@pytest.mark.parametrize('variant', ['zero_weights', 'no_model'])
def test_zero_perceptual_equals_mmagic_cyclegan(variant):
    """With the perceptual loss off and MMagic's update order,
    train_step is MMagic's CycleGAN's (the release's order is pinned in
    test_update_order.py)."""
    if variant == 'zero_weights':
        cfg = tiny_translator_cfg(perceptual_loss_cfg=dict(
            lambda_per=0.0, lambda_per_recon=0.0))
    else:
        cfg = tiny_translator_cfg(perceptual=False)
    cfg['update_order'] = 'discriminator_first'
    ours = build_translator(cfg, seed=1)
    ref_cfg = {k: v for k, v in copy.deepcopy(cfg).items()
               if not k.startswith('perceptual')
               and k not in ('num_classes', 'update_order')}
    ref_cfg['type'] = 'mmagic.CycleGAN'
    ref = MODELS.build(ref_cfg)
    assert type(ref).__name__ == 'CycleGAN'
    ref.load_state_dict(_gan_state(ours), strict=True)
    if variant == 'zero_weights':
        # M is never run when both weights are 0
        ours.perceptual_model.forward = None
    optims = [make_optim(ours), make_optim(ref)]
    for it in range(2):
        logs = []
        for net, optim in zip((ours, ref), optims):
            _set_iter(it)
            np.random.seed(it)  # image pool draws
            logs.append(net.train_step(make_batch(seed=it), optim))
        assert logs[0].keys() == logs[1].keys()
        for key in logs[1]:
            torch.testing.assert_close(logs[0][key], logs[1][key],
                                       rtol=0, atol=0, msg=key)
    after_ours, after_ref = _gan_state(ours), ref.state_dict()
    for key, value in after_ours.items():
        torch.testing.assert_close(value, after_ref[key], rtol=0, atol=0)


def test_perceptual_loss_values_and_total(model):
    """Pin each term against a hand computation with nn.InstanceNorm2d."""
    model.train()
    data = model.data_preprocessor(make_batch(seed=3), True)['inputs']
    outputs = {}
    for domain, other in (('source', 'target'), ('target', 'source')):
        real = data[f'img_{domain}']
        fake = model.translation(real, target_domain=other)
        outputs[f'real_{domain}'] = real
        outputs[f'fake_{other}'] = fake
        outputs[f'cycle_{domain}'] = model.translation(
            fake, target_domain=domain)
    losses = model._get_perceptual_losses(outputs)
    assert set(losses) == {
        'loss_per_source', 'loss_per_recon_source', 'loss_per_target',
        'loss_per_recon_target'
    }
    inorm = nn.InstanceNorm2d(3, affine=False)
    seg = model.perceptual_model

    def logits(img):
        seg_in = generator_to_segmentor_input(img, model._seg_norm)
        out = seg.decode_head(seg.extract_feat(seg_in))
        assert out.shape[-1] == img.shape[-1] // 8  # 1/8 resolution
        return out

    with torch.no_grad():
        for domain, other in (('source', 'target'), ('target', 'source')):
            ref = inorm(logits(outputs[f'real_{domain}']))
            per = ((inorm(logits(outputs[f'fake_{other}'])) - ref)**2).mean()
            rec = ((inorm(logits(outputs[f'cycle_{domain}'])) - ref)**2
                   ).mean()
            torch.testing.assert_close(losses[f'loss_per_{domain}'],
                                       0.1 * per)
            torch.testing.assert_close(losses[f'loss_per_recon_{domain}'],
                                       10.0 * rec)
            assert per > 0 and rec > 0
    # the generator loss is CycleGAN's plus exactly these terms
    loss_g, log_vars = model._get_gen_loss(dict(outputs))
    base = sum(log_vars[k] for k in ('loss_gan_g_source', 'loss_gan_g_target',
                                     'cycle_loss', 'id_loss'))
    torch.testing.assert_close(loss_g, base + sum(losses.values()))
    torch.testing.assert_close(log_vars['loss_per'], sum(losses.values()))


def test_l1_option_is_plain_l1_on_logits():
    model = build_translator(tiny_translator_cfg(perceptual_loss_cfg=dict(
        loss_type='l1', lambda_per=0.5, lambda_per_recon=0.0)))
    a, b = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    torch.testing.assert_close(
        model.perceptual_distance(a, b), (a - b).abs().mean())
    real = torch.rand(2, 3, 32, 32) * 2 - 1
    fake = torch.rand(2, 3, 32, 32) * 2 - 1
    outputs = dict(real_source=real, fake_target=fake, real_target=fake,
                   fake_source=real, cycle_source=real, cycle_target=fake)
    losses = model._get_perceptual_losses(outputs)
    assert set(losses) == {'loss_per_source', 'loss_per_target'}
    with torch.no_grad():
        expected = 0.5 * (model.perceptual_logits(fake) -
                          model.perceptual_logits(real)).abs().mean()
    torch.testing.assert_close(losses['loss_per_source'], expected)


def test_gradient_reaches_generators_through_frozen_segmentor():
    """The perceptual term alone (cycle/identity weights 0) trains both
    generators; M gets no gradient and does not change in train steps."""
    model = build_translator(tiny_translator_cfg(
        loss_config=dict(cycle_loss_weight=0.0, id_loss_weight=0.0)))
    model.train()
    data = model.data_preprocessor(make_batch(seed=5), True)['inputs']
    outputs = {}
    for domain, other in (('source', 'target'), ('target', 'source')):
        real = data[f'img_{domain}']
        fake = model.translation(real, target_domain=other)
        outputs.update({f'real_{domain}': real, f'fake_{other}': fake})
        outputs[f'cycle_{domain}'] = model.translation(
            fake, target_domain=domain)
    sum(model._get_perceptual_losses(outputs).values()).backward()
    for domain in ('source', 'target'):
        grads = [p.grad for p in model.generators[domain].parameters()]
        assert all(g is not None for g in grads), domain
        assert sum(g.abs().sum() for g in grads) > 0, domain
    assert all(p.grad is None for p in model.perceptual_model.parameters())
    assert all(p.grad is None for p in model.discriminators.parameters())

    # full train steps: M's weights and BN statistics stay as they were,
    # while the generators move
    model.zero_grad()
    before = copy.deepcopy(model.perceptual_model.state_dict())
    gen_before = copy.deepcopy(model.generators.state_dict())
    optim = make_optim(model, lr=1e-2)
    for it in range(3):
        _set_iter(it)
        model.train_step(make_batch(seed=it), optim)
    for key, value in model.perceptual_model.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)
    assert any(not torch.equal(v, gen_before[k])
               for k, v in model.generators.state_dict().items())


def test_perceptual_term_changes_the_generator_update():
    """Same batch and weights, lambda on vs off: the generator steps differ
    by the perceptual gradient only (the discriminator step is identical)."""
    on = build_translator(tiny_translator_cfg(), seed=2)
    off = build_translator(tiny_translator_cfg(perceptual_loss_cfg=dict(
        lambda_per=0.0, lambda_per_recon=0.0)), seed=2)
    logs = []
    for net in (on, off):
        _set_iter(0)
        logs.append(net.train_step(make_batch(seed=9), make_optim(net)))
    for key in ('loss_gan_d_source', 'loss_gan_d_target', 'cycle_loss'):
        torch.testing.assert_close(logs[0][key], logs[1][key])
    per = sum(logs[0][k] for k in logs[0] if k.startswith('loss_per_'))
    torch.testing.assert_close(logs[0]['loss'], logs[1]['loss'] + per)
    gen_on, gen_off = on.generators.state_dict(), off.generators.state_dict()
    assert any(not torch.equal(gen_on[k], gen_off[k]) for k in gen_on)


def test_load_perceptual_weights_copies_and_accepts_prefixes(tmp_path):
    model = build_translator(tiny_translator_cfg(), load_perceptual=False)
    assert not bool(model.perceptual_loaded)
    torch.manual_seed(7)
    donor = MODELS.build(tiny_segmentor_cfg())
    donor.init_weights()
    prefixed = {f'segmentor.segmentor.{k}': v
                for k, v in donor.state_dict().items()}
    prefixed['segmentor.discriminator.conv1.weight'] = torch.zeros(1)
    model.load_perceptual_weights(prefixed)
    assert bool(model.perceptual_loaded)
    for key, value in donor.state_dict().items():
        torch.testing.assert_close(model.perceptual_model.state_dict()[key],
                                   value, rtol=0, atol=0)
    # a copy: training the donor afterwards does not touch M
    with torch.no_grad():
        next(donor.parameters()).add_(1.0)
    assert not torch.equal(next(donor.parameters()),
                           next(model.perceptual_model.parameters()))
    assert not model.perceptual_model.training
    # from a checkpoint file given in the config (MMEngine layout)
    path = tmp_path / 'm0.pth'
    torch.save({'state_dict': donor.state_dict(), 'meta': {}}, path)
    loaded = build_translator(tiny_translator_cfg(
        perceptual_checkpoint=str(path)), load_perceptual=False)
    assert bool(loaded.perceptual_loaded)
    for key, value in donor.state_dict().items():
        torch.testing.assert_close(
            loaded.perceptual_model.state_dict()[key], value, rtol=0, atol=0)


def test_random_perceptual_model_refuses_to_train():
    model = build_translator(tiny_translator_cfg(), load_perceptual=False)
    _set_iter(0)
    with pytest.raises(RuntimeError, match='load_perceptual_weights'):
        model.train_step(make_batch(), make_optim(model))
    # the loaded flag is part of the state dict, so a resumed run keeps it
    assert 'perceptual_loaded' in model.state_dict()


def test_checkpoint_not_matching_config(tmp_path):
    other = MODELS.build(tiny_segmentor_cfg(num_classes=5))
    path = tmp_path / 'five_classes.pth'
    torch.save({'state_dict': other.state_dict()}, path)
    with pytest.raises(ValueError, match='differ in shape') as err:
        build_translator(tiny_translator_cfg(
            perceptual_checkpoint=str(path)), load_perceptual=False)
    assert 'five_classes.pth' in str(err.value)
    assert 'decode_head.conv_seg.weight' in str(err.value)

    path = tmp_path / 'unrelated.pth'
    torch.save({'state_dict': nn.Conv2d(3, 3, 1).state_dict()}, path)
    with pytest.raises(ValueError, match='keys missing') as err:
        build_translator(tiny_translator_cfg(
            perceptual_checkpoint=str(path)), load_perceptual=False)
    assert 'unrelated.pth' in str(err.value)
    with pytest.raises(FileNotFoundError, match='perceptual_checkpoint'):
        build_translator(tiny_translator_cfg(
            perceptual_checkpoint=str(tmp_path / 'missing.pth')))


def test_class_count_mismatch():
    with pytest.raises(ValueError, match='predicts 3 classes but the data '
                       'has 19'):
        build_translator(tiny_translator_cfg(num_classes=19))


def test_bad_loss_cfg_and_preprocessor():
    with pytest.raises(ValueError, match='loss_type'):
        build_translator(tiny_translator_cfg(perceptual_loss_cfg=dict(
            loss_type='l2')))
    with pytest.raises(ValueError, match='unknown keys'):
        build_translator(tiny_translator_cfg(perceptual_loss_cfg=dict(
            lamda_per=1.0)))
    seg = tiny_segmentor_cfg()
    seg.pop('data_preprocessor')
    with pytest.raises(TypeError, match='SegDataPreProcessor'):
        build_translator(tiny_translator_cfg(perceptual_model=seg))
    cfg = tiny_translator_cfg()
    cfg['data_preprocessor'].pop('output_channel_order')
    with pytest.raises(ValueError, match='output_channel_order'):
        build_translator(cfg)


def test_init_weights_alone_and_inside_a_parent_model():
    """MMagic 1.2.0's own init crashes when MMEngine's init bookkeeping is
    on the sub-modules (open-mmlab/mmagic#2109); ours initialises the
    generators N(0, 0.02) in both cases and leaves M alone."""
    from mmengine.model import BaseModule

    class Parent(BaseModule):

        def __init__(self):
            super().__init__()
            self.translator = MODELS.build(tiny_translator_cfg())

    ref_cfg = tiny_translator_cfg(perceptual=False)
    ref_cfg['type'] = 'mmagic.CycleGAN'
    for key in ('perceptual_loss_cfg', 'num_classes', 'perceptual_model'):
        ref_cfg.pop(key)
    with pytest.raises(UnboundLocalError):
        MODELS.build(ref_cfg).init_weights()

    torch.manual_seed(0)
    parent = Parent()
    m_before = copy.deepcopy(parent.translator.perceptual_model.state_dict())
    with torch.no_grad():
        for p in parent.translator.generators.parameters():
            p.fill_(1.0)
    parent.init_weights()
    weights = torch.cat([
        m.weight.flatten() for m in parent.translator.generators.modules()
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))
    ])
    assert 0.01 < weights.std().item() < 0.03
    assert abs(weights.mean().item()) < 0.005
    for key, value in parent.translator.perceptual_model.state_dict().items():
        assert torch.equal(value, m_before[key]), key


def test_distributed_step_averages_grads_and_restores_hooks(monkeypatch):
    """With several ranks every optimizer step is preceded by a mean
    all-reduce of exactly that optimizer's gradients; a `step` installed on
    a wrapper by someone else still runs, after the reduce, and is put back
    afterwards."""
    from mmbdl.models.utils import grad_sync
    model = build_translator(tiny_translator_cfg())
    optim = make_optim(model)
    events = []

    def fake_all_reduce(tensors, coalesce=True, op='sum'):
        assert op == 'mean'
        events.append(sum(t.numel() for t in tensors))

    monkeypatch.setattr(grad_sync, 'get_world_size', lambda: 2)
    monkeypatch.setattr(grad_sync, 'all_reduce_params', fake_all_reduce)
    plain = optim['discriminators'].step  # bound method

    def foreign(**kwargs):
        events.append('foreign')
        return plain(**kwargs)

    optim['discriminators'].step = foreign
    _set_iter(0)
    model.train_step(make_batch(seed=1), optim)
    n_disc = sum(p.numel() for p in model.discriminators.parameters())
    n_gen = sum(p.numel() for p in model.generators.parameters())
    # generators step first (release), then the discriminators
    assert events == [n_gen, n_disc, 'foreign']
    assert optim['discriminators'].__dict__['step'] is foreign
    assert 'step' not in optim['generators'].__dict__
