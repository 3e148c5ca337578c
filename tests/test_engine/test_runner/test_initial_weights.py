"""Initial weights of the BDL loop: random-init refusal, load_from checks,
``load_from`` versus ``train_cfg.initial_weights`` as restart points."""
import logging
import os.path as osp

import pytest
import torch
from bdl_tiny import toy_bdl_cfg, write_bdl_data
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmbdl.registry import MODELS
from mmbdl.utils.errors import ConfigCheckError

ITERS = dict(source_only=2, translation=2, adaptation=2)


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return write_bdl_data(str(tmp_path_factory.mktemp('bdl') / 'data'))


def _cfg(data_root, work, **overrides):
    overrides.setdefault('allow_random_init', False)
    return toy_bdl_cfg(data_root, work, num_rounds=1, num_ssl_rounds=0,
                       iters=dict(ITERS), **overrides)


def _log(runner):
    """The text of the runner's log file (MMEngine may share one logger,
    and so one file, between runners made in the same second)."""
    (path, ) = {h.baseFilename for h in runner.logger.handlers
                if isinstance(h, logging.FileHandler)}
    with open(path) as f:
        return f.read()


def _m_checkpoint(path, value=None):
    """An M checkpoint with the BDL model's key names (segmentor.*)."""
    init_default_scope('mmbdl')
    model = MODELS.build(_cfg('unused', 'unused')['model'])
    state = {k: v.clone() for k, v in model.state_dict().items()
             if k.startswith('segmentor.')}
    if value is not None:
        for key, tensor in state.items():
            if '.backbone.' in key and tensor.is_floating_point():
                tensor.fill_(value)
    torch.save(dict(state_dict=state), path)
    return state


def test_random_backbone_refused_naming_the_keys(data_root, tmp_path):
    runner = Runner(**_cfg(data_root, str(tmp_path / 'w')))
    with pytest.raises(ConfigCheckError) as err:
        runner.train()
    msg = str(err.value)
    assert msg.startswith('k0_source_only: M\'s backbone (ResNetV1c) would '
                          'train from random weights')
    assert 'model.segmentor.segmentor.backbone.init_cfg' in msg
    assert 'train_cfg.allow_random_init=True' in msg
    assert runner.train_loop.iter == 0  # refused before any iteration


def test_allow_random_init_warns_once_per_run(data_root, tmp_path):
    work = str(tmp_path / 'w')
    runner = Runner(**_cfg(data_root, work, allow_random_init=True))
    runner.train()
    log = _log(runner)
    assert log.count('train_cfg.allow_random_init=True and M\'s backbone '
                     'started from random weights') == 1
    first = runner.train_loop.phases[0].name
    assert f'{first}: train_cfg.allow_random_init=True' in log


def test_resume_is_not_refused(data_root, tmp_path):
    work = str(tmp_path / 'w')
    Runner(**_cfg(data_root, work, allow_random_init=True)).train()
    # the same config without the opt-out resumes: trained weights come back
    cfg = _cfg(data_root, work)
    runner = Runner(**cfg, resume=True,
                    load_from=osp.join(work, 'iter_3.pth'))
    runner.train()
    assert runner.train_loop.iter == 6


def test_pretrained_backbone_accepted(data_root, tmp_path):
    work = str(tmp_path / 'w')
    cfg = _cfg(data_root, work)
    path = str(tmp_path / 'backbone.pth')
    init_default_scope('mmbdl')
    model = MODELS.build(cfg['model'])
    torch.save(dict(state_dict=model.segmentor.segmentor.state_dict()), path)
    cfg['model']['segmentor']['segmentor']['backbone']['init_cfg'] = dict(
        type='Pretrained', checkpoint=path, prefix='backbone.')
    runner = Runner(**cfg)
    runner.train()
    log = _log(runner)
    assert 'init_cfg Pretrained' in log and 'keys matched' in log


def test_load_from_with_wrong_prefix_stops(data_root, tmp_path):
    path = str(tmp_path / 'm.pth')
    state = _m_checkpoint(path)
    # keys of the inner segmentor saved without the 'segmentor.segmentor.'
    # prefix (e.g. a converter output written without --prefix)
    plain = {k[len('segmentor.segmentor.'):]: v for k, v in state.items()
             if k.startswith('segmentor.segmentor.')}
    torch.save(dict(state_dict=plain), path)
    runner = Runner(**_cfg(data_root, str(tmp_path / 'w'),
                           allow_random_init=True), load_from=path)
    with pytest.raises(ConfigCheckError) as err:
        runner.train()
    msg = str(err.value)
    assert 'fewer than 50%' in msg
    assert "add the prefix 'segmentor.segmentor.'" in msg
    assert 'Checkpoint keys:' in msg and 'module keys:' in msg


def test_load_from_is_not_a_restart_point(data_root, tmp_path):
    """load_from=<M(0)> with source_only=False: F(1) gets M(0) as its
    perceptual model, M_0(1) (init='initial') restarts from the initial
    weights, not from M(0)."""
    path = str(tmp_path / 'm0.pth')
    _m_checkpoint(path, value=0.5)
    work = str(tmp_path / 'w')
    cfg = _cfg(data_root, work, allow_random_init=True, source_only=False,
               init=dict(translation='continue', adaptation='initial'))
    cfg['train_cfg']['phase_iters'].pop('source_only')
    runner = Runner(**cfg, load_from=path)
    runner.train()
    initial = torch.load(osp.join(work, 'bdl_initial_weights.pth'))
    key = 'segmentor.backbone.stem.0.weight'
    assert not torch.all(initial['segmentor'][key] == 0.5)
    perceptual = runner.model.translator.perceptual_model
    assert torch.all(perceptual.backbone.stem[0].weight == 0.5)
    log = _log(runner)
    assert 'load_from' in log and 'keys matched' in log
    assert "k1_adaptation: weights re-initialised to the initial ones" in log


def test_initial_weights_are_the_restart_point(data_root, tmp_path):
    """train_cfg.initial_weights forms the restart point and counts as a
    pretrained backbone (no opt-out needed)."""
    path = str(tmp_path / 'init.pth')
    _m_checkpoint(path, value=0.25)
    work = str(tmp_path / 'w')
    runner = Runner(**_cfg(data_root, work, initial_weights=path,
                           init=dict(source_only='initial',
                                     adaptation='initial')))
    runner.train()
    initial = torch.load(osp.join(work, 'bdl_initial_weights.pth'))
    key = 'segmentor.backbone.stem.0.weight'
    assert torch.all(initial['segmentor'][key] == 0.25)
    assert 'train_cfg.initial_weights' in _log(runner)
