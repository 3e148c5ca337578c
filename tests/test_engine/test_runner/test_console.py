"""The console of a BDL run (BDLRunner): what a person follows a run by;
everything else in the work dir's log file."""
import os
import os.path as osp
import warnings

import pytest
from bdl_tiny import real_bdl_cfg, write_bdl_data
from mmengine.hooks import Hook

from mmbdl.engine.runner import BDLRunner


class WarnOnceHook(Hook):
    """Emits a library-style Python warning during training."""

    def before_train(self, runner) -> None:
        warnings.warn('a library deprecation for the test', FutureWarning)


def _log_file(work):
    logs = [osp.join(root, name) for root, _, names in os.walk(work)
            for name in names if name.endswith('.log')]
    assert len(logs) == 1, logs
    return logs[0]


@pytest.mark.parametrize('console', ['brief', 'full'])
def test_console_of_a_bdl_run(console, tmp_path, capsys):
    data = write_bdl_data(str(tmp_path / 'data'))
    work = str(tmp_path / 'work')
    cfg = real_bdl_cfg(data, work, num_rounds=1,
                       iters=dict(source_only=1, translation=2,
                                  adaptation=1, self_training=1))
    runner = BDLRunner(**cfg, cfg=dict(console=console))
    runner.register_hook(WarnOnceHook())
    with warnings.catch_warnings():
        warnings.simplefilter('always')
        runner.train()
    out = capsys.readouterr().out
    log = open(_log_file(work)).read()
    phases = runner.train_loop.phases
    # the full log is in the work dir either way
    for text in ('System environment', 'Config:', 'Iter(val)',
                 '==== phase', 'BDL rounds'):
        assert text in log, text
    if console == 'full':
        assert 'System environment' in out and 'Iter(val)' in out
        return
    lines = out.splitlines()
    # one line per phase start, in plan order
    starts = [line for line in lines if '==== phase' in line]
    assert len(starts) == len(phases)
    for line, phase in zip(starts, phases):
        assert f': {phase.name} (' in line
    # progress lines (LoggerHook interval 1 in this config), with ETA
    progress = [line for line in lines if 'Iter(train)' in line]
    assert len(progress) == runner.train_loop.max_iters
    assert all('eta:' in line for line in progress)
    # the round table after each segmentation phase and at the end
    assert out.count('BDL rounds') == 1 + sum(p.is_segmentation
                                              for p in phases)
    # not on the console: environment, config, hooks, val progress,
    # Python warnings (their count and the log file are)
    for text in ('System environment', 'Config:', 'Hooks will be executed',
                 'Iter(val)', 'a library deprecation for the test'):
        assert text not in out, text
    assert 'a library deprecation for the test' in log
    assert f'written to {_log_file(work)}' in lines[-1]
    assert 'Python warnings of this run' in lines[-1]


def test_console_filter_rules():
    import logging

    from mmbdl.engine.runner.bdl_runner import ConsoleFilter

    def passes(level, message):
        record = logging.LogRecord('x', level, __file__, 1, message, None,
                                   None)
        return ConsoleFilter().filter(record)

    assert passes(logging.INFO, '==== phase 2/7: k1_translation (F^(1))')
    assert passes(logging.INFO, 'Iter(train) [ 50/1400]  eta: 0:15:46')
    assert passes(logging.INFO, 'k1_adaptation: resuming at local iter 3')
    assert passes(logging.INFO, 'BDL rounds so far:\n| model |')
    assert not passes(logging.INFO, 'Config:\ncustom_hooks = [')
    assert not passes(logging.INFO, 'paramwise_options -- backbone.conv1')
    assert not passes(logging.INFO, 'Iter(val) [10/60]')
    assert passes(logging.WARNING, 'k1_translation: allow_random_init=True')
    assert not passes(logging.WARNING, '"FileClient" will be deprecated in '
                      'future.')
    assert passes(logging.ERROR, 'anything is deprecated')


def test_warnings_reach_the_log_after_an_earlier_capture_ended(tmp_path):
    """A runner built after another one's capture ended inside a
    ``warnings.catch_warnings()`` block (which puts the original
    ``showwarning`` back) still sends Python warnings to its log file."""
    import logging

    from mmbdl.engine.runner.bdl_runner import make_console_brief

    def logger_with_file(name):
        logger = logging.getLogger(f'test_console_{name}')
        handler = logging.FileHandler(str(tmp_path / f'{name}.log'))
        logger.handlers = [handler]
        return logger, handler

    first, first_file = logger_with_file('first')
    with warnings.catch_warnings():
        make_console_brief(first)
    second, second_file = logger_with_file('second')
    counter = make_console_brief(second)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('always')
            warnings.warn('after the first capture', FutureWarning)
        second_file.flush()
        assert 'after the first capture' in (tmp_path /
                                             'second.log').read_text()
        assert counter.count == 1
    finally:
        logging.captureWarnings(False)
        for handler in (first_file, second_file):
            handler.close()
