"""AdvSelfTrainingSegmentor: gradients, loss values, phases, AMP, bad input."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine import MessageHub
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.structures import PixelData
from tiny_uda import NUM_CLASSES, tiny_segmentor_cfg, tiny_uda_cfg, uda_batch

from mmbdl.models.segmentors import AdvSelfTrainingSegmentor
from mmbdl.registry import MODELS

# the adv-ssl configs' standalone terms (Eq. 3 named in the config)
SSL_TERMS = dict(standalone=['source_ce', 'adversarial', 'pseudo_labels'])


def build(ssl=False, **uda):
    torch.manual_seed(0)
    cfg = tiny_uda_cfg(**uda)
    if ssl:
        cfg['loss_terms'] = SSL_TERMS
    model = MODELS.build(cfg)
    model.init_weights()
    model.train()
    return model


def snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before, module, keys=None):
    after = module.state_dict()
    keys = keys or [k for k in before if before[k].is_floating_point()]
    return {k for k in keys if not torch.equal(before[k], after[k])}


class SpyWrapper(OptimWrapper):
    """Records both sub-models around its own update."""

    def __init__(self, model, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.records = []

    def update_params(self, loss, **kwargs):
        seg, disc = self.model.segmentor, self.model.discriminator
        rec = dict(
            seg_before=snapshot(seg), disc_before=snapshot(disc),
            disc_grads=[p.grad for p in disc.parameters()],
            seg_grads_before=[p.grad for p in seg.parameters()])
        super().update_params(loss, **kwargs)
        rec.update(seg_after=snapshot(seg), disc_after=snapshot(disc))
        self.records.append(rec)


def wrappers(model, seg_lr=0.1, disc_lr=0.1, spy=False):
    cls = SpyWrapper if spy else OptimWrapper
    extra = dict(model=model) if spy else {}
    return OptimWrapperDict(
        segmentor=cls(optimizer=torch.optim.SGD(
            model.segmentor.parameters(), lr=seg_lr), **extra),
        discriminator=cls(optimizer=torch.optim.SGD(
            model.discriminator.parameters(), lr=disc_lr), **extra))


def diff_keys(a, b):
    return {k for k in a if a[k].is_floating_point()
            and not torch.equal(a[k], b[k])}


def test_segmentor_step_and_disc_step_touch_only_their_model():
    model = build(ssl=True)
    optim = wrappers(model, spy=True)
    bn_keys = [k for k, v in model.segmentor.named_parameters()
               if not v.requires_grad]
    assert bn_keys and all('bn' in k or 'downsample.1' in k for k in bn_keys)
    bn_before = {k: model.segmentor.state_dict()[k].clone() for k in bn_keys}
    mean_key = 'backbone.bn1.running_mean'
    mean_before = model.segmentor.state_dict()[mean_key].clone()
    log = model.train_step(uda_batch(pseudo=True), optim)

    (seg_rec, ) = optim['segmentor'].records
    (disc_rec, ) = optim['discriminator'].records
    # segmentor step: segmentor changes, D does not and got no gradient
    assert diff_keys(seg_rec['seg_before'], seg_rec['seg_after'])
    assert not diff_keys(seg_rec['disc_before'], seg_rec['disc_after'])
    assert all(g is None for g in seg_rec['disc_grads'])
    # D step: D changes, the segmentor does not and has no gradient
    assert diff_keys(disc_rec['disc_before'], disc_rec['disc_after'])
    assert not diff_keys(disc_rec['seg_before'], disc_rec['seg_after'])
    assert all(g is None or not g.any()
               for g in disc_rec['seg_grads_before'])
    # frozen BN affine unchanged, BN still in train mode (stats move)
    after = model.segmentor.state_dict()
    for k in bn_keys:
        assert torch.equal(bn_before[k], after[k]), k
    assert not torch.equal(mean_before, after[mean_key])
    # D trainable again after the step
    assert all(p.requires_grad for p in model.discriminator.parameters())
    assert {'src.loss_ce', 'src.acc_seg', 'tgt.loss_adv', 'pseudo.loss_ce',
            'disc.loss_src', 'disc.loss_tgt', 'loss'} <= set(log)


def _probs(logits, size):
    up = F.interpolate(logits, size=size, mode='bilinear',
                       align_corners=True)
    return torch.softmax(up, dim=1)


def _bce_hand(z, label):
    # -[y log s(z) + (1 - y) log(1 - s(z))], written out
    s = 1 / (1 + torch.exp(-z))
    return -(label * torch.log(s) + (1 - label) * torch.log(1 - s)).mean()


@pytest.mark.parametrize('weights', [False, True])
def test_loss_values_match_hand_computation(weights):
    model = build(ssl=True, lambda_adv=0.25, pseudo_loss_weight=0.5)
    ref = copy.deepcopy(model)
    batch = uda_batch(pseudo=True, weights=weights)
    log = model.train_step(copy.deepcopy(batch),
                           wrappers(model, seg_lr=0.0, disc_lr=0.0))
    seg, disc = ref.segmentor, ref.discriminator
    src, tgt = batch['inputs']['source'], batch['inputs']['target']
    with torch.no_grad():
        ls = seg.decode_head.forward(seg.extract_feat(src))
        lt = seg.decode_head.forward(seg.extract_feat(tgt))
        adv = 0.25 * _bce_hand(disc(_probs(lt, tgt.shape[2:])), 0.0)
        d_src = 0.5 * _bce_hand(disc(_probs(ls, src.shape[2:])), 0.0)
        d_tgt = 0.5 * _bce_hand(disc(_probs(lt, tgt.shape[2:])), 1.0)
        # pseudo CE by hand: -log p(label) on labelled pixels
        samples = batch['data_samples']['target']
        label = samples[0].gt_sem_seg.data[0].long()
        logp = torch.log(_probs(lt, label.shape))[0]
        valid = label != 255
        picked = logp.gather(0, label.clamp(max=NUM_CLASSES - 1)[None])[0]
        w = samples[0].gt_seg_weight.data[0] if weights else \
            torch.ones_like(picked)
        pseudo = 0.5 * (-(picked * w)[valid]).sum() / valid.sum()
        # source CE: mean over all (labelled) pixels
        src_label = batch['data_samples']['source'][0].gt_sem_seg.data[0]
        logp_s = torch.log(_probs(ls, src_label.shape))[0]
        src_ce = -logp_s.gather(0, src_label.long()[None]).mean()
    assert log['tgt.loss_adv'].item() == pytest.approx(adv.item(), rel=1e-4)
    assert log['disc.loss_src'].item() == pytest.approx(d_src.item(),
                                                        rel=1e-4)
    assert log['disc.loss_tgt'].item() == pytest.approx(d_tgt.item(),
                                                        rel=1e-4)
    assert log['pseudo.loss_ce'].item() == pytest.approx(pseudo.item(),
                                                         rel=1e-4)
    assert log['src.loss_ce'].item() == pytest.approx(src_ce.item(),
                                                      rel=1e-4)
    assert log['loss'].item() == pytest.approx(
        (src_ce + adv + pseudo).item(), rel=1e-4)


def _d_logit(model, x):
    seg = model.segmentor
    with torch.no_grad():
        logits = seg.decode_head.forward(seg.extract_feat(x))
        return model.discriminator(_probs(logits, x.shape[2:])).mean()


def test_generator_step_pushes_target_towards_source_label():
    model = build(lambda_adv=1.0)
    batch = uda_batch()
    for s in batch['data_samples']['source']:
        s.gt_sem_seg.data[:] = 255  # no source CE: only the adversarial term
    tgt = batch['inputs']['target']
    before = _d_logit(model, tgt)
    optim = wrappers(model, seg_lr=0.5, disc_lr=0.0)
    for _ in range(3):
        model.train_step(copy.deepcopy(batch), optim)
    assert _d_logit(model, tgt) < before


def test_disc_step_learns_source_zero_target_one():
    model = build()
    batch = uda_batch()
    src, tgt = batch['inputs']['source'], batch['inputs']['target']
    gap0 = _d_logit(model, tgt) - _d_logit(model, src)
    optim = wrappers(model, seg_lr=0.0, disc_lr=0.5)
    for _ in range(3):
        model.train_step(copy.deepcopy(batch), optim)
    assert _d_logit(model, tgt) - _d_logit(model, src) > gap0


def test_source_only_mode_skips_target_and_disc():
    model = build(adversarial=False)
    disc_before = snapshot(model.discriminator)
    seg_before = snapshot(model.segmentor)
    batch = uda_batch(pseudo=False)
    batch['inputs']['target'] = torch.full_like(batch['inputs']['target'],
                                                float('nan'))
    log = model.train_step(batch, OptimWrapperDict(segmentor=OptimWrapper(
        optimizer=torch.optim.SGD(model.segmentor.parameters(), lr=0.1))))
    assert set(k for k in log if 'loss' in k) == {'src.loss_ce', 'loss'}
    assert not diff_keys(disc_before, snapshot(model.discriminator))
    assert diff_keys(seg_before, snapshot(model.segmentor))
    # switch the same object to Eq. 1; labels in the batch switch nothing
    # on: without the pseudo-label term they are refused, naming the key
    model.adversarial = True
    log = model.train_step(uda_batch(), wrappers(model))
    assert 'tgt.loss_adv' in log and 'pseudo.loss_ce' not in log
    with pytest.raises(ValueError, match='loss_terms=dict.standalone'):
        model.train_step(uda_batch(pseudo=True), wrappers(model))
    # Eq. 3 is the config's: loss_terms.standalone names its term
    ssl = build(ssl=True)
    log = ssl.train_step(uda_batch(pseudo=True), wrappers(ssl))
    assert 'pseudo.loss_ce' in log and 'tgt.loss_adv' in log


def test_inference_uses_wrapped_segmentor_alone():
    model = build()
    model.eval()
    img = (torch.rand(3, 24, 40) * 255).to(torch.uint8)
    from mmseg.structures import SegDataSample
    sample = SegDataSample(metainfo=dict(ori_shape=(48, 80),
                                         img_shape=(24, 40)))
    data = dict(inputs=[img], data_samples=[sample])
    out = model.val_step(copy.deepcopy(data))
    ref = model.segmentor.val_step(copy.deepcopy(data))
    assert out[0].pred_sem_seg.shape == (48, 80)
    assert torch.equal(out[0].pred_sem_seg.data, ref[0].pred_sem_seg.data)
    x = torch.rand(1, 3, 24, 40)
    assert torch.equal(model(x), model.segmentor(x))


def test_amp_optim_wrapper(monkeypatch):
    import mmengine.optim.optimizer.amp_optimizer_wrapper as amp_mod
    dtype = 'float16' if torch.cuda.is_available() else 'bfloat16'
    monkeypatch.setattr(amp_mod, 'is_cuda_available', lambda: True)
    model = build(ssl=True)
    seg_before = snapshot(model.segmentor)
    disc_before = snapshot(model.discriminator)
    optim = OptimWrapperDict(
        segmentor=amp_mod.AmpOptimWrapper(
            optimizer=torch.optim.SGD(model.segmentor.parameters(), lr=0.1),
            dtype=dtype),
        discriminator=amp_mod.AmpOptimWrapper(
            optimizer=torch.optim.SGD(model.discriminator.parameters(),
                                      lr=0.1),
            dtype=dtype))
    log = model.train_step(uda_batch(pseudo=True), optim)
    for key in ('src.loss_ce', 'tgt.loss_adv', 'pseudo.loss_ce',
                'disc.loss_src', 'disc.loss_tgt'):
        assert torch.isfinite(log[key]), key
    assert diff_keys(seg_before, snapshot(model.segmentor))
    assert diff_keys(disc_before, snapshot(model.discriminator))


# ---------------------------------------------------------------- bad input
def test_pseudo_label_size_mismatch_names_file():
    model = build(ssl=True)
    batch = uda_batch(pseudo=True)
    sample = batch['data_samples']['target'][0]
    sample.gt_sem_seg = PixelData(data=torch.zeros(1, 16, 16,
                                                   dtype=torch.uint8))
    with pytest.raises(ValueError, match=r'tgt_0\.png.*16x16.*regenerate'):
        model.train_step(batch, wrappers(model))


def test_weight_map_size_mismatch():
    model = build(ssl=True)
    batch = uda_batch(pseudo=True, weights=True)
    batch['data_samples']['target'][0].gt_seg_weight = PixelData(
        data=torch.ones(1, 8, 8))
    with pytest.raises(ValueError, match='weight map'):
        model.train_step(batch, wrappers(model))


def test_class_count_mismatch():
    # target labelled with a 5-class map while the model has 3 classes
    model = build(ssl=True)
    batch = uda_batch(pseudo=True)
    batch['data_samples']['target'][0].gt_sem_seg.data[0, -1, -1] = 4
    with pytest.raises(ValueError, match='class id 4.*3 classes'):
        model.train_step(batch, wrappers(model))
    with pytest.raises(ValueError, match='num_classes=5.*3 classes'):
        MODELS.build(dict(tiny_uda_cfg(), discriminator=dict(
            type='FCDiscriminator', num_classes=5)))


def test_nan_loss_stops_with_iteration_and_name():
    model = build()
    MessageHub.get_current_instance().update_info('iter', 7)
    batch = uda_batch()
    batch['inputs']['source'][0, 0, 0, 0] = float('nan')
    before = {k: p.detach().clone()
              for k, p in model.segmentor.named_parameters()}
    with pytest.raises(FloatingPointError,
                       match=r'src\.loss_ce.*iteration 7'):
        model.train_step(batch, wrappers(model))
    # stopped before the update: no weight was changed
    for k, p in model.segmentor.named_parameters():
        assert torch.equal(before[k], p), k


def test_config_errors():
    with pytest.raises(KeyError, match='lambda_ad'):
        MODELS.build(tiny_uda_cfg(lambda_ad=1.0))
    with pytest.raises(ValueError, match='discriminator'):
        MODELS.build(dict(tiny_uda_cfg(), discriminator=None))
    model = build()
    with pytest.raises(KeyError, match="'discriminator'"):
        model.train_step(uda_batch(), OptimWrapperDict(
            segmentor=OptimWrapper(optimizer=torch.optim.SGD(
                model.segmentor.parameters(), lr=0.1))))
    with pytest.raises(TypeError, match='UDA batch'):
        model.train_step(dict(inputs=torch.zeros(1, 3, 8, 8),
                              data_samples=[]), wrappers(model))
    assert isinstance(model, AdvSelfTrainingSegmentor)
    assert model.num_classes == NUM_CLASSES
    assert tiny_segmentor_cfg()['decode_head']['num_classes'] == NUM_CLASSES
