"""BDL trains what the loop's phase says and always infers with the
segmentor."""
import copy

import pytest
import torch
from bdl_tiny import (ToyUDADataset, tiny_segmentor, tiny_translator,
                      write_bdl_data)
from mmengine.dataset import pseudo_collate
from mmengine.optim import OptimWrapper, OptimWrapperDict
from tiny_translator import make_batch

from mmbdl.engine.runner import set_model_phase
from mmbdl.models import BDL
from mmbdl.models.algorithms.bdl import follow_segmentor
from mmbdl.registry import MODELS
from mmbdl.utils import ConfigCheckError

# what the loop's kinds tell the model (BDL.set_phase); the model itself
# knows no kind
ADAPTATION = dict(trains='segmentor', loss_terms=('source_ce',
                                                  'adversarial'))
SOURCE_ONLY = dict(trains='segmentor', loss_terms=('source_ce', ),
                   adversarial=False)
TRANSLATION = dict(trains='translator')


def _bdl(translator=True):
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='BDL',
        segmentor=dict(type='ToyAdvSegmentor', segmentor=tiny_segmentor()),
        translator=tiny_translator() if translator else None))
    model.init_weights()
    return model


def _seg_optim(model):
    return OptimWrapperDict(
        segmentor=OptimWrapper(torch.optim.SGD(
            model.segmentor.segmentor.parameters(), lr=0.1)),
        discriminator=OptimWrapper(torch.optim.SGD(
            model.segmentor.discriminator.parameters(), lr=0.1)))


def _snapshot(module):
    return {k: v.clone() for k, v in module.state_dict().items()
            if v.is_floating_point()}


def _changed(before, module):
    after = module.state_dict()
    return [k for k, v in before.items() if not torch.equal(v, after[k])]


@pytest.fixture(scope='module')
def uda_batch(tmp_path_factory):
    root = write_bdl_data(str(tmp_path_factory.mktemp('bdl') / 'data'))
    dataset = ToyUDADataset(data_root=root)
    return pseudo_collate([dataset[0], dataset[1]])


def test_phase_is_validated(uda_batch):
    model = _bdl()
    assert model.phase is None
    with pytest.raises(RuntimeError, match='no phase is set'):
        model.train_step(copy.deepcopy(uda_batch), _seg_optim(model))
    with pytest.raises(ConfigCheckError, match='trains must be one of'):
        model.set_phase('x', trains='segmentation')
    with pytest.raises(ConfigCheckError, match='has none; set `translator'):
        _bdl(translator=False).set_phase('translation', **TRANSLATION)
    # the engine's registry of kinds refuses unknown names
    with pytest.raises(ConfigCheckError, match='unknown phase kind'):
        set_model_phase(model, 'segmentation')
    with pytest.raises(ValueError, match='needs a `segmentor`'):
        BDL(segmentor=None)


def test_translation_phase_trains_only_the_translator():
    model = _bdl()
    model.set_phase('translation', **TRANSLATION)
    model.load_perceptual_weights()
    seg_before = _snapshot(model.segmentor)
    gen_before = _snapshot(model.translator.generators)
    optim = OptimWrapperDict(
        generators=OptimWrapper(torch.optim.Adam(
            model.translator.generators.parameters(), lr=1e-3)),
        discriminators=OptimWrapper(torch.optim.Adam(
            model.translator.discriminators.parameters(), lr=1e-3)))
    from mmengine.logging import MessageHub
    MessageHub.get_current_instance().update_info('iter', 0)
    log_vars = model.train_step(make_batch(2, 32), optim)
    assert 'loss_per_source' in log_vars and 'cycle_loss' in log_vars
    assert _changed(gen_before, model.translator.generators)
    assert _changed(seg_before, model.segmentor) == []


def test_segmentation_phases(uda_batch):
    model = _bdl()
    model.set_phase('adaptation', **ADAPTATION)
    # adaptation: the AdvSelfTrainingSegmentor's own step (segmentor and D)
    seg_before = _snapshot(model.segmentor.segmentor)
    d_before = _snapshot(model.segmentor.discriminator)
    log_vars = model.train_step(copy.deepcopy(uda_batch), _seg_optim(model))
    assert 'tgt.loss_adv' in log_vars
    assert _changed(seg_before, model.segmentor.segmentor)
    assert _changed(d_before, model.segmentor.discriminator)
    # source_only: cross-entropy on the source branch, D untouched
    model.set_phase('source_only', **SOURCE_ONLY)
    seg_before = _snapshot(model.segmentor.segmentor)
    d_before = _snapshot(model.segmentor.discriminator)
    log_vars = model.train_step(copy.deepcopy(uda_batch), _seg_optim(model))
    assert set(k for k in log_vars if 'loss' in k) == {
        'loss', 'src.decode.loss_ce'}
    assert _changed(seg_before, model.segmentor.segmentor)
    assert _changed(d_before, model.segmentor.discriminator) == []


def test_source_only_needs_a_segmentor_optimizer(uda_batch):
    model = _bdl()
    model.set_phase('source_only', **SOURCE_ONLY)
    optim = OptimWrapperDict(disc=OptimWrapper(torch.optim.SGD(
        model.segmentor.discriminator.parameters(), lr=0.1)))
    with pytest.raises(KeyError, match="keyed 'segmentor'"):
        model.train_step(copy.deepcopy(uda_batch), optim)


def test_inference_uses_the_segmentor_in_every_phase(tmp_path):
    from mmseg.structures import SegDataSample
    model = _bdl()
    model.eval()
    img = torch.randint(0, 255, (3, 32, 32), dtype=torch.uint8)
    sample = SegDataSample()
    sample.set_metainfo(dict(img_shape=(32, 32), ori_shape=(32, 32)))
    data = dict(inputs=[img], data_samples=[sample])
    outs = []
    for phase, declared in (('translation', TRANSLATION),
                            ('adaptation', ADAPTATION)):
        model.set_phase(phase, **declared)
        out = model.val_step(copy.deepcopy(data))
        assert isinstance(out[0], SegDataSample)
        assert out[0].pred_sem_seg.data.shape == (1, 32, 32)
        outs.append(out[0].seg_logits.data)
        assert torch.equal(model.test_step(copy.deepcopy(data))[0]
                           .seg_logits.data, outs[-1])
    assert torch.equal(outs[0], outs[1])
    logits = model(torch.zeros(1, 3, 32, 32), None, mode='tensor')
    assert logits.shape[1] == 3


def test_load_perceptual_weights_copies_the_segmentor():
    model = _bdl()
    assert not bool(model.translator.perceptual_loaded)
    model.load_perceptual_weights()
    assert bool(model.translator.perceptual_loaded)
    seg = model.segmentor.segmentor.state_dict()
    per = model.translator.perceptual_model.state_dict()
    assert set(seg) == set(per)
    assert all(torch.equal(seg[k], per[k]) for k in seg)
    # a copy: training the segmentor afterwards leaves M unchanged
    with torch.no_grad():
        for p in model.segmentor.segmentor.parameters():
            p.add_(1.0)
    per_after = model.translator.perceptual_model.state_dict()
    assert all(torch.equal(per[k], per_after[k]) for k in per)
    assert not any(p.requires_grad
                   for p in model.translator.perceptual_model.parameters())


def test_load_perceptual_weights_without_perceptual_model():
    model = MODELS.build(dict(
        type='BDL',
        segmentor=dict(type='ToyAdvSegmentor', segmentor=tiny_segmentor()),
        translator=dict(tiny_translator(), perceptual_model=None)))
    with pytest.raises(RuntimeError, match='no perceptual_model'):
        model.load_perceptual_weights()


def test_perceptual_model_follows_the_segmentor():
    """perceptual_model=dict(follow_segmentor=True) builds F's perceptual
    model from M's inference segmentor config (a swapped M swaps it too),
    with the dict's other keys merged in."""
    seg = tiny_segmentor()
    swapped = copy.deepcopy(seg)
    swapped['decode_head']['channels'] = 5  # another head width than seg's
    for inner in (seg, swapped):
        model = MODELS.build(dict(
            type='BDL',
            segmentor=dict(type='ToyAdvSegmentor', segmentor=inner),
            translator=dict(tiny_translator(),
                            perceptual_model=dict(follow_segmentor=True))))
        ours = {k: v.shape for k, v in
                model.segmentor.segmentor.state_dict().items()}
        per = {k: v.shape for k, v in
               model.translator.perceptual_model.state_dict().items()}
        assert ours == per
    assert ours != {k: v.shape for k, v in
                    _bdl().segmentor.segmentor.state_dict().items()}
    # overrides are merged into the followed config, the rest is M's
    model = MODELS.build(dict(
        type='BDL',
        segmentor=dict(type='ToyAdvSegmentor', segmentor=seg),
        translator=dict(tiny_translator(), perceptual_model=dict(
            follow_segmentor=True, decode_head=dict(channels=6)))))
    per = model.translator.perceptual_model.state_dict()
    ours = model.segmentor.segmentor.state_dict()
    assert set(per) == set(ours)
    assert any(per[k].shape != ours[k].shape for k in per)
    # nothing to follow: a config error
    with pytest.raises(ValueError, match='follow_segmentor'):
        follow_segmentor(
            dict(tiny_translator(),
                 perceptual_model=dict(follow_segmentor=True)),
            dict(type='ToyAdvSegmentor', segmentor=None))


def test_phase_kinds_name_the_terms_the_segmentor_sums():
    from tiny_uda import tiny_uda_cfg
    model = MODELS.build(dict(type='BDL', segmentor=tiny_uda_cfg()))
    seg = model.segmentor
    expected = dict(
        source_only=('source_ce', ),
        adaptation=('source_ce', 'adversarial'),
        self_training=('source_ce', 'adversarial', 'pseudo_labels'))
    for kind, roles in expected.items():
        set_model_phase(model, kind)
        assert model.phase == kind
        assert (seg.phase_kind, seg.phase_roles) == (kind, roles)
    names = dict(source_only=['source_ce'],
                 adaptation=['source_ce', 'adversarial'],
                 self_training=['source_ce', 'adversarial',
                                'pseudo_label_ce'])
    for kind, terms in names.items():
        set_model_phase(model, kind)
        assert [t.name for t in seg.active_terms()] == terms
