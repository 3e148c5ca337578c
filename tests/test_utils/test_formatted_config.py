"""FormattedOnceConfig: MMEngine's config text, formatted by yapf once per
content (the runner writes it into every checkpoint)."""
import copy
import pickle

import mmengine.config.config as mmengine_config
import pytest
import torch
from bdl_tiny import real_bdl_cfg, write_bdl_data
from mmengine.config import Config

from mmbdl.engine.runner import BDLRunner
from mmbdl.utils.formatted_config import FormattedOnceConfig

CFG = dict(model=dict(type='Toy', channels=[8, 16, 32], norm=dict(
    type='BN', requires_grad=True)), train_cfg=dict(max_iters=10),
    lr=0.01, name='demo')


@pytest.fixture
def format_calls(monkeypatch):
    """The number of yapf formattings (MMEngine's FormatCode calls)."""
    calls = []
    real = mmengine_config.FormatCode

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(mmengine_config, 'FormatCode', counting)
    return calls


def test_text_is_mmengines_and_formatted_once(format_calls):
    expected = Config(copy.deepcopy(CFG)).pretty_text
    format_calls.clear()
    cfg = FormattedOnceConfig.of(Config(copy.deepcopy(CFG)))
    assert [cfg.pretty_text for _ in range(5)] == [expected] * 5
    assert len(format_calls) == 1


def test_a_changed_config_is_formatted_again(format_calls):
    cfg = FormattedOnceConfig(copy.deepcopy(CFG))
    before = cfg.pretty_text
    cfg.train_cfg.max_iters = 20
    cfg.model.channels.append(64)
    after = cfg.pretty_text
    assert after != before
    assert after == Config(cfg.to_dict()).pretty_text
    assert 'max_iters=20' in after and '64' in after
    assert len(format_calls) == 3  # before, after, the plain Config's


def test_copies_keep_the_class_and_the_text():
    cfg = FormattedOnceConfig.of(Config(copy.deepcopy(CFG)))
    text = cfg.pretty_text
    for other in (copy.copy(cfg), copy.deepcopy(cfg),
                  pickle.loads(pickle.dumps(cfg))):
        assert type(other) is FormattedOnceConfig
        assert other.pretty_text == text
    # a plain config stays plain; .of of ours is itself
    assert type(Config(CFG)) is Config
    assert FormattedOnceConfig.of(cfg) is cfg


def test_the_runner_formats_once_and_checkpoints_carry_the_text(
        tmp_path, format_calls):
    data = write_bdl_data(str(tmp_path / 'data'))
    work = tmp_path / 'work'
    cfg = real_bdl_cfg(data, str(work), num_rounds=1,
                       iters=dict(source_only=1, translation=2,
                                  adaptation=1, self_training=1))
    runner = BDLRunner(**cfg, cfg=dict(CFG, console='brief'))
    assert type(runner.cfg) is FormattedOnceConfig
    format_calls.clear()
    runner.train()
    checkpoints = sorted(p for p in work.glob('*.pth')
                         if p.name != 'bdl_initial_weights.pth')
    # the phases' and the iterations'
    assert len(checkpoints) > len(runner.train_loop.phases) + 1
    text = Config.pretty_text.fget(runner.cfg)  # formatted afresh
    for path in checkpoints:
        meta = torch.load(path, map_location='cpu', weights_only=False)
        assert meta['meta']['cfg'] == text, path.name
    # the saves formatted nothing (the runner formatted the text when it
    # logged its config, before training; MMEngine's Config: once a save):
    # the one formatting is the check's above
    assert len(format_calls) == 1
