"""PerceptualCycleGAN's update order pinned against hand-written steps, and
the memory-saving perceptual backward pinned against the joint one."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine import MessageHub
from mmengine.optim import OptimWrapper, OptimWrapperDict
from tiny_translator import (build_translator, make_batch, make_optim,
                             tiny_translator_cfg)

from mmbdl.models.translators.perceptual_memory import (
    checkpoint_units, disable_activation_checkpointing,
    enable_activation_checkpointing)

# trains or compares whole steps of real models: make test-quick leaves
# it out (tests/conftest.py, the slow marker)
pytestmark = pytest.mark.slow

# plain SGD with a large lr: the update is lr x gradient, so float noise in
# a gradient stays noise (Adam's first step would turn it into +-lr), while
# an order mistake moves the weights far more
LR = 0.01
CAFFE_MEAN = torch.tensor([104.00699, 116.66877, 122.67891]).view(1, 3, 1, 1)


def _set_iter(i: int) -> None:
    MessageHub.get_current_instance().update_info('iter', i)


def _seg_logits(model, img):
    """M's logits of [-1, 1] RGB images, converted by hand (Caffe BGR)."""
    bgr = (img * 127.5 + 127.5).flip(1) - CAFFE_MEAN
    return model.perceptual_model(bgr, None, mode='tensor')


def _d(pred, ref):
    return torch.mean((F.instance_norm(pred) - F.instance_norm(ref)) ** 2)


def hand_step(model, batch, order: str) -> None:
    """One CycleGAN + perceptual step written out with plain torch.

    The release's order (generator_first): G_A, G_B updated with D_A, D_B
    frozen, then D_A, D_B on the (detached) fakes. MMagic's order
    (discriminator_first): the discriminators first, then the generators
    against the updated discriminators.
    """
    G, D = model.generators, model.discriminators
    inputs = model.data_preprocessor(batch, True)['inputs']
    real = {d: inputs[f'img_{d}'] for d in ('source', 'target')}
    other = dict(source='target', target='source')
    opt_g = torch.optim.SGD(G.parameters(), lr=LR)
    opt_d = torch.optim.SGD(D.parameters(), lr=LR)
    # fake[d] is an image in domain d, rec[d] the reconstruction of real[d]
    fake = {other[d]: G[other[d]](real[d]) for d in real}
    rec = {d: G[d](fake[other[d]]) for d in real}

    def gen_loss():
        loss = 0.
        for d in real:
            pred = D[d](fake[d])
            loss = loss + F.mse_loss(pred, torch.ones_like(pred))
            loss = loss + 10.0 * F.l1_loss(rec[d], real[d])
            loss = loss + 5.0 * F.l1_loss(G[d](real[d]), real[d])
            with torch.no_grad():
                ref = _seg_logits(model, real[d])
            loss = loss + 0.1 * _d(_seg_logits(model, fake[other[d]]), ref)
            loss = loss + 10.0 * _d(_seg_logits(model, rec[d]), ref)
        return loss

    def disc_loss():
        loss = 0.
        for d in real:
            p_fake = D[d](fake[d].detach())
            p_real = D[d](real[d])
            loss = loss + 0.5 * (
                F.mse_loss(p_fake, torch.zeros_like(p_fake)) +
                F.mse_loss(p_real, torch.ones_like(p_real)))
        return loss

    def step_g():
        D.requires_grad_(False)
        opt_g.zero_grad()
        gen_loss().backward()
        opt_g.step()
        D.requires_grad_(True)

    def step_d():
        opt_d.zero_grad()
        disc_loss().backward()
        opt_d.step()

    if order == 'generator_first':
        step_g()
        step_d()
    else:
        step_d()
        step_g()


def _sgd(model) -> OptimWrapperDict:
    return OptimWrapperDict(
        generators=OptimWrapper(torch.optim.SGD(model.generators.parameters(),
                                                lr=LR)),
        discriminators=OptimWrapper(torch.optim.SGD(
            model.discriminators.parameters(), lr=LR)))


def _cfg(**kw):
    # buffer_size 0: the pools hand back this step's fakes (no randomness)
    return tiny_translator_cfg(buffer_size=0, **kw)


def _weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()
            if k.startswith(('generators.', 'discriminators.'))}


def _rel_diff(a, b, start):
    """Largest weight difference relative to the largest update."""
    diff = max((a[k] - b[k]).abs().max().item() for k in a)
    update = max((b[k] - start[k]).abs().max().item() for k in b)
    return diff / update


@pytest.mark.parametrize('order, saving, micro', [
    ('generator_first', True, 1),  # the default: memory-bounded
    ('generator_first', True, 0),
    ('generator_first', False, 0),  # the joint graph of the release
    ('discriminator_first', True, 0),
    ('discriminator_first', False, 0),
])
def test_train_step_matches_hand_written_step(order, saving, micro):
    cfg = _cfg(perceptual_memory_saving=saving, generator_micro_batch=micro)
    if order != 'generator_first':
        cfg['update_order'] = order
    model = build_translator(cfg, seed=3)
    reference = copy.deepcopy(model)
    start = _weights(model)
    batch = make_batch(batch_size=3, seed=4)
    _set_iter(0)
    logs = model.train_step(batch, _sgd(model))
    assert {'loss', 'loss_per', 'loss_gan_d_source'} <= set(logs)
    hand_step(reference, batch, order)
    ours, hand = _weights(model), _weights(reference)
    assert _rel_diff(ours, hand, start) < 1e-5
    # the other order gives a clearly different result: the test can fail
    other = build_translator(cfg, seed=3)
    hand_step(other, batch, 'discriminator_first'
              if order == 'generator_first' else 'generator_first')
    assert _rel_diff(_weights(other), hand, start) > 1e-3


def test_default_is_release_order_and_bad_order_refused():
    model = build_translator(_cfg())
    assert model.update_order == 'generator_first'
    # memory defaults: one sample per generator pass, checkpointed
    # residual blocks (the hand-written test above runs with them)
    assert model.generator_micro_batch == 1
    blocks = [m for g in model.generators.values() for m in g.modules()
              if type(m).__name__ == 'ResidualBlockWithDropout']
    assert len(blocks) == 2 and all('forward' in b.__dict__ for b in blocks)
    with pytest.raises(ValueError, match='update_order'):
        build_translator(_cfg(update_order='d_first'))


def test_generator_first_leaves_no_frozen_discriminator_and_no_graph():
    model = build_translator(_cfg())
    _set_iter(0)
    model.train_step(make_batch(seed=1), make_optim(model))
    assert all(p.requires_grad for p in model.discriminators.parameters())
    assert all(not p.requires_grad
               for p in model.perceptual_model.parameters())
    assert all(p.grad is None or not p.grad.any()
               for p in model.parameters())  # update_params zeroes grads


@pytest.mark.parametrize('chunk', [1, 0])
def test_memory_saving_gradients_equal_joint_backward(chunk):
    """Per-term, per-sample input gradients with checkpointed M give the
    generator gradients of one joint backward pass (float tolerance)."""
    grads, values = [], []
    for saving in (False, True):
        model = build_translator(
            _cfg(perceptual_memory_saving=saving, perceptual_chunk=chunk),
            seed=6)
        inputs = model.data_preprocessor(make_batch(batch_size=3, seed=7),
                                         True)['inputs']
        outputs = model._forward_generators(inputs)
        loss, log_vars = model._get_gen_loss(outputs)
        loss.backward()
        grads.append({n: p.grad.clone()
                      for n, p in model.generators.named_parameters()})
        values.append(log_vars)
    # float tolerance relative to the largest gradient: biases in front of
    # an instance norm have a zero gradient up to the rounding of far
    # larger sums
    scale = max(g.abs().max().item() for g in grads[0].values())
    assert scale > 0
    for name, joint in grads[0].items():
        assert (grads[1][name] - joint).abs().max().item() <= 1e-5 * scale, \
            name

    for key in values[0]:
        torch.testing.assert_close(values[1][key], values[0][key])


def test_activation_checkpointing_units_and_equal_outputs():
    model = build_translator(_cfg())
    seg = model.perceptual_model
    units = checkpoint_units(seg)
    # the tiny ResNet-18-style M has 2 stages x 2 BasicBlocks
    assert len(units) == 4
    assert all(type(u).__name__ == 'BasicBlock' for u in units)
    assert all('forward' in u.__dict__ for u in units)  # enabled by default
    x = torch.randn(1, 3, 32, 32, requires_grad=True)
    out_cp = seg(x, None, mode='tensor')
    g_cp, = torch.autograd.grad(out_cp.square().sum(), x)
    disable_activation_checkpointing(seg)
    assert not any('forward' in u.__dict__ for u in units)
    out = seg(x, None, mode='tensor')
    g, = torch.autograd.grad(out.square().sum(), x)
    torch.testing.assert_close(out_cp, out)
    torch.testing.assert_close(g_cp, g)
    assert enable_activation_checkpointing(seg) == 4
    # a deep copy (e.g. the loop's snapshot) keeps working on its own weights
    clone = copy.deepcopy(seg)
    clone.decode_head.conv_seg.bias.data.add_(1.0)
    torch.testing.assert_close(
        clone(x, None, mode='tensor').detach(), out.detach() + 1.0)
