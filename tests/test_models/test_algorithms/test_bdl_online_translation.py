"""BDL's training step hands the segmentor the source images an online
translator (FDA) made of each batch, in the phases that train on target
data only."""
import copy

import numpy as np
import pytest
import torch
from bdl_tiny import ToyUDADataset, tiny_segmentor, write_bdl_data
from mmengine.dataset import pseudo_collate
from mmengine.optim import OptimWrapper, OptimWrapperDict

from mmbdl.models.translators import fda_source_to_target
from mmbdl.registry import MODELS
from mmbdl.utils import ConfigCheckError

ADAPTATION = dict(trains='segmentor', loss_terms=('source_ce',
                                                  'adversarial'))
SELF_TRAINING = dict(trains='segmentor', loss_terms=(
    'source_ce', 'adversarial', 'pseudo_labels'))
SOURCE_ONLY = dict(trains='segmentor', loss_terms=('source_ce', ),
                   adversarial=False)
BETA = 0.1


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return write_bdl_data(str(tmp_path_factory.mktemp('bdl') / 'data'))


@pytest.fixture(scope='module')
def uda_batch(data_root):
    dataset = ToyUDADataset(data_root=data_root)
    return pseudo_collate([dataset[0], dataset[1]])


def _bdl(**translator):
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='BDL',
        segmentor=dict(type='ToyAdvSegmentor', segmentor=tiny_segmentor()),
        translator=dict(type='FDATranslator', beta=BETA, **translator)))
    model.init_weights()
    return model


def _optim(model):
    return OptimWrapperDict(
        segmentor=OptimWrapper(torch.optim.SGD(
            model.segmentor.segmentor.parameters(), lr=0.1)),
        discriminator=OptimWrapper(torch.optim.SGD(
            model.segmentor.discriminator.parameters(), lr=0.1)))


def _seen_sources(model, batch, monkeypatch):
    """The source images the segmentor's data preprocessor receives in
    one training step."""
    pre = model.segmentor.data_preprocessor
    seen = []
    forward = pre.forward

    def spy(data, training=False):
        seen.append([img.clone() for img in data['inputs']['source']])
        return forward(data, training)

    monkeypatch.setattr(pre, 'forward', spy)
    model.train_step(copy.deepcopy(batch), _optim(model))
    assert len(seen) == 1
    return seen[0]


def _expected(batch):
    src, trg = batch['inputs']['source'], batch['inputs']['target']
    return [fda_source_to_target(s.float()[None], t.float()[None], BETA)[0]
            for s, t in zip(src, trg)]


@pytest.mark.parametrize('phase,declared', [('adaptation', ADAPTATION),
                                            ('uda', SELF_TRAINING)])
def test_target_phases_train_on_the_translated_source(
        phase, declared, uda_batch, monkeypatch):
    model = _bdl()
    model.set_phase(phase, **declared)
    seen = _seen_sources(model, uda_batch, monkeypatch)
    for got, want, raw in zip(seen, _expected(uda_batch),
                              uda_batch['inputs']['source']):
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, want, rtol=0, atol=0)
        # FDA changed the images (unclipped floats, not the uint8 input)
        assert (got - raw.float()).abs().max() > 1.0
        assert not torch.equal(got, got.round())


def test_source_only_and_offline_leave_the_source_as_it_is(
        uda_batch, data_root, monkeypatch):
    raw = uda_batch['inputs']['source']
    model = _bdl()
    model.set_phase('source_only', **SOURCE_ONLY)
    for got, want in zip(_seen_sources(model, uda_batch, monkeypatch), raw):
        assert torch.equal(got, want)  # M(0) sees no target image
    offline = _bdl(online=False, target_img_dir=data_root)
    offline.set_phase('adaptation', **ADAPTATION)
    for got, want in zip(_seen_sources(offline, uda_batch, monkeypatch),
                         raw):
        assert torch.equal(got, want)  # S' comes from the dataset


def test_the_translation_changes_the_step(uda_batch):
    logs = []
    for online in (True, False):
        kwargs = dict(online=online, target_img_dir='unused')
        model = _bdl(**kwargs)
        model.set_phase('adaptation', **ADAPTATION)
        logs.append(model.train_step(copy.deepcopy(uda_batch),
                                     _optim(model)))
    assert not np.isclose(float(logs[0]['src.loss_ce'].detach()),
                          float(logs[1]['src.loss_ce'].detach()))


def test_a_batch_without_target_is_refused_in_a_target_phase(uda_batch):
    batch = copy.deepcopy(uda_batch)
    del batch['inputs']['target']
    model = _bdl()
    model.set_phase('adaptation', **ADAPTATION)
    with pytest.raises(ConfigCheckError, match='no source and target '
                       'branches'):
        model.train_step(batch, _optim(model))
