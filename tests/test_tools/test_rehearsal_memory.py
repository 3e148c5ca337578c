"""The rehearsal's memory estimate: a model of measured costs, fitted from
probe steps at two small sizes, checked at a third size, compared with the
machine's memory and reported against the measured peak per phase."""
import argparse
import os.path as osp
import sys

import pytest
from bdl_tiny import real_bdl_cfg

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools', 'analysis'))

from rehearsal import planning, report  # noqa: E402
from rehearsal.memory_model import (fit_line, predict,  # noqa: E402
                                    relative_error, step_peak)
from rehearsal.memory_probe import fit_kinds, kind_step  # noqa: E402

KINDS = ['source_only', 'adaptation', 'self_training', 'translation']
# the tiny BDL model's "real" sizes: big enough that activations are most
# of a step's memory at full size
SIZES = dict(source=(384, 384), target=(384, 384), batch=2, crop=(256, 256),
             translation_batch=2)


@pytest.fixture(scope='module')
def cfg(tmp_path_factory):
    from mmbdl.utils import register_all_modules
    register_all_modules()
    return real_bdl_cfg(str(tmp_path_factory.mktemp('unused')),
                        str(tmp_path_factory.mktemp('work')))


def test_fit_line():
    fit = fit_line([(100, 1100.0), (300, 1300.0)])
    assert fit['fixed'] == pytest.approx(1000.0)
    assert fit['per_pixel'] == pytest.approx(1.0)
    assert predict(fit, 1000) == pytest.approx(2000.0)
    # below the noise: never under what was measured
    assert fit_line([(100, 1300.0), (300, 1200.0)]) == dict(
        fixed=1300.0, per_pixel=0.0)
    with pytest.raises(ValueError, match='two different sizes'):
        fit_line([(100, 1.0), (100, 2.0)])
    assert relative_error(125, 100) == pytest.approx(0.25)


def test_estimate_within_25_percent_at_a_third_size(cfg):
    """Fitted at 1/4 and 1/2 of the side lengths, checked at the full size
    (4x the pixels of the larger probe), for every phase kind."""
    fits = fit_kinds(cfg, SIZES, KINDS, scales=(0.25, 0.5))
    for kind in KINDS:
        fit = fits[kind]
        (small, low), (large, high) = fit['probes']
        assert large == 4 * small and high > low, (kind, fit['probes'])
        step, pixels = kind_step(cfg, kind, SIZES, 1.0)
        assert pixels == fit['pixels'] == 4 * large
        measured = step_peak(step)
        # activations are most of the step at this size: a constant would
        # not do
        assert measured > 1.5 * low, (kind, measured, low)
        error = relative_error(fit['step_bytes'], measured)
        assert abs(error) <= 0.25, (kind, fit, measured, error)


def test_needs_use_the_model_and_refuse_too_little_memory(cfg, tmp_path,
                                                          monkeypatch):
    args = argparse.Namespace(rounds=1, ssl_rounds=1, images=2)
    # the paper sizes shrunk for the tiny model (seconds, not minutes)
    monkeypatch.setitem(planning.SEG_SIZES, 'gta5', (384, 256))
    monkeypatch.setattr(planning, 'TARGET_SIZE', (512, 256))
    monkeypatch.setattr(planning, 'CROP', 256)
    from mmengine.config import Config
    needs = planning.estimate_needs(Config(cfg), args, 'gta5',
                                    str(tmp_path), str(tmp_path / 'data'))
    model = needs['memory_model']
    assert set(model['kinds']) == set(KINDS)
    step = max(k['step_bytes'] for k in model['kinds'].values())
    assert needs['memory_bytes'] == model['base_bytes'] + step
    batch = cfg['train_dataloader']['batch_size']
    assert model['kinds']['adaptation']['pixels'] == batch * (
        384 * 256 + 512 * 256)
    assert model['kinds']['translation']['pixels'] == 2 * 256 * 256 * cfg[
        'train_cfg']['phase_dataloaders']['translation']['batch_size']
    assert 'model of measured costs' in needs['memory_detail']
    assert planning.check_needs(needs, str(tmp_path)) is None
    # a machine with less memory than the estimate is refused
    monkeypatch.setattr(planning, '_available_memory',
                        lambda: needs['memory_bytes'] // 4)
    from rehearsal import memory
    monkeypatch.setattr(memory, 'rss_bytes', lambda pid=None: 0)
    problem = planning.check_needs(needs, str(tmp_path))
    assert problem.startswith(
        f'the rehearsal needs about {needs["memory_bytes"] / 1e9:.1f} GB of '
        'memory (cpu: model of measured costs')
    # the report: estimate against the measured peak, per phase
    phases = [dict(name='k1_adaptation', kind='adaptation',
                   train_peak_rss=needs['memory_bytes'] // 2)]
    for record in phases:
        record['memory_estimate'] = report._memory_estimate(record, needs)
    assert phases[0]['memory_estimate']['error'] == pytest.approx(
        relative_error(model['base_bytes'] + model['kinds']['adaptation'][
            'step_bytes'], needs['memory_bytes'] // 2))
    lines = report._memory_lines(phases)
    assert '| phase | kind | estimate GB | measured GB | error |' in lines
    assert lines[-1].startswith('| k1_adaptation | adaptation | ')
