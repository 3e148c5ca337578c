"""PhaseArtifacts: the loop's record of what phases hand on."""
import os.path as osp

import pytest
from bdl_tiny import toy_bdl_cfg, write_bdl_data
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmbdl.engine.hooks import PhaseArtifacts
from mmbdl.engine.runner.loop_state import saved_artifacts
from mmbdl.engine.runner.phase_context import (phase_dataloader_cfg,
                                               receives_artifacts)
from mmbdl.engine.runner.phase_plan import plan_phases
from mmbdl.utils import ConfigCheckError, ConfigTypeError, RunStateError


def test_update_takes_the_fields_set_and_refuses_other_returns():
    record = PhaseArtifacts(translated_source_dir='a')
    record.update(None)
    record.update(PhaseArtifacts(pseudo_label_dir='p',
                                 pseudo_label_stats=dict(kept_ratio=0.5)))
    assert record == PhaseArtifacts('a', 'p', dict(kept_ratio=0.5))
    record.update(PhaseArtifacts(translated_source_dir='b'))
    assert (record.translated_source_dir, record.pseudo_label_dir) == \
        ('b', 'p')
    with pytest.raises(TypeError, match='returns PhaseArtifacts or None'):
        record.update('/some/dir')
    assert PhaseArtifacts.from_dict(record.to_dict()) == record
    with pytest.raises(KeyError, match='unknown phase artifacts'):
        PhaseArtifacts.from_dict(dict(other_dir='x'))


def test_checkpoints_without_the_record_use_their_message_hub_infos():
    state = dict(artifacts=dict(translated_source_dir='t',
                                pseudo_label_dir=None,
                                pseudo_label_stats=None))
    assert saved_artifacts(state, {}) == PhaseArtifacts('t')
    old = dict(message_hub=dict(runtime_info=dict(
        translated_source_dir='t1', pseudo_label_dir='p1',
        pseudo_label_stats=dict(kept_ratio=0.25), iter=7)))
    assert saved_artifacts({}, old) == PhaseArtifacts(
        't1', 'p1', dict(kept_ratio=0.25))


def test_phase_dataset_gets_what_its_kind_consumes(tmp_path):
    phases = {p.name: p for p in plan_phases(
        1, 1, True, dict(source_only=1, translation=1, adaptation=1,
                         self_training=1))}
    for name in ('trans', 'labels'):
        (tmp_path / name).mkdir()
        (tmp_path / name / '.complete.json').write_text('{}')
    record = PhaseArtifacts(str(tmp_path / 'trans'), str(tmp_path / 'labels'))
    cfg = dict(dataset=dict(type='UDADataset', source=None, target=None))
    assert receives_artifacts(cfg['dataset'])
    source_only = phase_dataloader_cfg(phases['k0_source_only'], None,
                                       record, {}, cfg)
    assert source_only['dataset'] == dict(cfg['dataset'],
                                          pseudo_label_dir=None)
    adaptation = phase_dataloader_cfg(phases['k1_adaptation'], None, record,
                                      {}, cfg)['dataset']
    assert (adaptation['translated_source_dir'],
            adaptation['pseudo_label_dir']) == (record.translated_source_dir,
                                                None)
    ssl = phase_dataloader_cfg(phases['k1_self_training_i1'],
                               phases['k1_adaptation'], record, {},
                               cfg)['dataset']
    assert ssl['pseudo_label_dir'] == record.pseudo_label_dir
    # a dataset type without the arguments is refused, naming the fix
    plain = dict(dataset=dict(type='BaseSegDataset'))
    assert not receives_artifacts(plain['dataset'])
    with pytest.raises(ConfigCheckError, match="type='UDADataset'"):
        phase_dataloader_cfg(phases['k1_adaptation'], None, record, {},
                             plain)
    with pytest.raises(RunStateError, match='no translated source set'):
        phase_dataloader_cfg(phases['k1_adaptation'], None,
                             PhaseArtifacts(), {}, cfg)


def test_a_phase_hook_that_is_no_bdl_hook_is_refused(tmp_path):
    data_root = write_bdl_data(str(tmp_path / 'data'))

    class Forgotten(Hook):

        def after_phase(self, runner, phase):
            pass

    cfg = toy_bdl_cfg(data_root, str(tmp_path / 'work'))
    cfg['custom_hooks'].append(Forgotten())
    with pytest.raises(ConfigTypeError, match='derive it from'):
        Runner(**cfg).train()
    assert not osp.exists(osp.join(str(tmp_path / 'work'),
                                   'k0_source_only.pth'))
