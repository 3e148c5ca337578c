"""MMEngine's Runner with a readable console (``runner_type='BDLRunner'``).

The console (the MMLogger's stdout handler) shows errors, warnings (but
upstream deprecation notices) and, of the INFO messages, only those a
person follows a run by: the start of each phase, the progress line every
``LoggerHook`` interval (with ETA), resume notes, the translation /
pseudo-labelling summaries (first line) and the round table. The
environment dump, the config, the hook table, the optimizer constructor's
per-parameter lines, validation progress and the like go to the log file
only (``work_dir/<timestamp>/<timestamp>.log``), as do Python warnings
(library deprecations); their count and the log file are named on the
console at the end of the run. Progress bars
(``mmengine.utils.ProgressBar``) write to the terminal directly.
"""
import io
import logging
import os.path as osp
from contextlib import contextmanager, redirect_stdout
from typing import Optional, Sequence

from mmengine.config import Config
from mmengine.dist import is_main_process
from mmengine.registry import RUNNERS as ROOT_RUNNERS
from mmengine.runner import Runner

from mmbdl.registry import LOOPS, RUNNERS
from mmbdl.utils.atomic_write import atomic_path
from mmbdl.utils.config_names import check_loop_keys
from mmbdl.utils.errors import ConfigCheckError
from mmbdl.utils.formatted_config import FormattedOnceConfig
from mmbdl.utils.weights import resume_checkpoint

# INFO messages shown on the console, by their start
CONSOLE_PREFIXES = (
    '==== phase',  # one line per phase start
    'Iter(train)',  # progress every LoggerHook interval, with ETA
    'BDL rounds',  # the round table
    'resum',  # resume notes of the BDL loop / MMEngine (resume:, resumed)
    'translated source set of round',
    'pseudo-labels written to',
    'pseudo-labels of round',
    'Python warnings of this run',
)
# WARNING messages of upstream libraries that are notices for their own
# developers (deprecations, naming advice), not for a person running BDL:
# log file only
FILE_ONLY_WARNINGS = (
    'will be deprecated',
    'is deprecated',
    'The prefix is not set in metric class',
)
# of these, only the first line (the rest is in the log file)
FIRST_LINE_ONLY = ('pseudo-labels written to', )


class ConsoleFilter(logging.Filter):
    """Passes WARNING and above (but upstream deprecation notices), and INFO
    records starting with one of ``prefixes`` (checked after leading
    whitespace and a phase-name prefix such as ``'k1_adaptation: '``).

    Args:
        prefixes (Sequence[str]): Message starts to show.
        file_only_warnings (Sequence[str]): Warnings containing one of these
            stay off the console.
    """

    def __init__(self, prefixes: Sequence[str] = CONSOLE_PREFIXES,
                 file_only_warnings: Sequence[str] = FILE_ONLY_WARNINGS
                 ) -> None:
        super().__init__()
        self.prefixes = tuple(prefixes)
        self.file_only_warnings = tuple(file_only_warnings)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        message = record.getMessage().lstrip()
        if record.levelno >= logging.WARNING:
            return not any(text in message
                           for text in self.file_only_warnings)
        if message.startswith(self.prefixes):
            return True
        # '<phase name>: resuming at ...'
        head, _, rest = message.partition(': ')
        return ' ' not in head and rest.startswith(self.prefixes)


class FirstLineFormatter(logging.Formatter):
    """Formats with ``formatter`` and keeps only the first line of
    messages starting with one of ``prefixes``.

    Args:
        formatter (logging.Formatter): The handler's formatter.
        prefixes (Sequence[str]): Messages to cut to their first line.
    """

    def __init__(self, formatter: logging.Formatter,
                 prefixes: Sequence[str] = FIRST_LINE_ONLY) -> None:
        super().__init__()
        self.inner = formatter
        self.prefixes = tuple(prefixes)

    def format(self, record: logging.LogRecord) -> str:
        text = self.inner.format(record)
        if record.getMessage().startswith(self.prefixes):
            return text.split('\n', 1)[0]
        return text


class WarningCounter(logging.Handler):
    """Counts the Python warnings routed to the log file."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def _console_handlers(logger: logging.Logger):
    return [
        h for h in logger.handlers
        if isinstance(h, logging.StreamHandler)
        and not isinstance(h, logging.FileHandler)
    ]


def make_console_brief(logger: logging.Logger) -> Optional[WarningCounter]:
    """Filter the logger's console handlers and send Python warnings to its
    log file(s) instead of the terminal.

    Args:
        logger (logging.Logger): The runner's MMLogger.

    Returns:
        WarningCounter | None: Counts the warnings sent to the log file;
        None when the logger has no log file (warnings then stay on the
        console).
    """
    for handler in _console_handlers(logger):
        if not any(isinstance(f, ConsoleFilter) for f in handler.filters):
            handler.addFilter(ConsoleFilter())
            handler.setFormatter(FirstLineFormatter(handler.formatter))
    files = [h for h in logger.handlers if isinstance(h, logging.FileHandler)]
    if not files:
        return None
    # off, then on: a warnings.catch_warnings() block that ended since an
    # earlier capture put the original showwarning back, and
    # captureWarnings(True) alone would then leave it there
    logging.captureWarnings(False)
    logging.captureWarnings(True)
    py_warnings = logging.getLogger('py.warnings')
    counter = WarningCounter()
    # the handlers of this run only (a process may build several runners)
    py_warnings.handlers = files + [counter]
    py_warnings.propagate = False
    return counter


def make_console_full(logger: logging.Logger) -> None:
    """Undo :func:`make_console_brief` on the console handlers (Python
    warnings stay in the log file).

    Args:
        logger (logging.Logger): The runner's MMLogger.
    """
    for handler in _console_handlers(logger):
        for filt in [f for f in handler.filters
                     if isinstance(f, ConsoleFilter)]:
            handler.removeFilter(filt)
        if isinstance(handler.formatter, FirstLineFormatter):
            handler.setFormatter(handler.formatter.inner)


def warnings_note(counter: Optional[WarningCounter],
                  logger: logging.Logger) -> Optional[str]:
    """The end-of-run console line naming the log file with the warnings."""
    if counter is None or counter.count == 0:
        return None
    files = [h.baseFilename for h in logger.handlers
             if isinstance(h, logging.FileHandler)]
    return (f'Python warnings of this run: {counter.count} (library '
            f'deprecations and the like), written to {files[0]}')


# MMEngine's load_state_dict prints every missing / unexpected key to stdout
# (tens of KB for a checkpoint of another architecture): it goes to the log
# file only, as records marked with this attribute
FILE_ONLY = 'mmbdl_file_only'


class _NotOnConsole(logging.Filter):

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, FILE_ONLY, False)


@contextmanager
def printed_to_log_file(logger: logging.Logger):
    """Capture what the block prints and write it to ``logger``'s file
    handlers only (not to its console handlers)."""
    buffer = io.StringIO()
    try:
        with redirect_stdout(buffer):
            yield
    finally:
        text = buffer.getvalue().strip()
        if text:
            console = [h for h in logger.handlers
                       if isinstance(h, logging.StreamHandler)
                       and not isinstance(h, logging.FileHandler)]
            quiet = _NotOnConsole()
            for handler in console:
                handler.addFilter(quiet)
            try:
                logger.info(text, extra={FILE_ONLY: True})
            finally:
                for handler in console:
                    handler.removeFilter(quiet)


@RUNNERS.register_module()
class BDLRunner(Runner):
    """A ``Runner`` whose console shows what a person follows a run by.

    Everything MMEngine logs still goes to the log file in the work dir;
    the console keeps warnings, errors, phase starts, progress lines, the
    round table and the translation / pseudo-labelling progress bars
    (:class:`ConsoleFilter`). ``val()`` and ``test()`` show every INFO line
    from their start (the evaluation is what a person runs them for). Set
    ``console='full'`` in the config for MMEngine's console throughout (the
    config dump, the environment, every INFO line).
    """

    def __init__(self, *args, cfg=None, **kwargs):
        # the config's yapf formatting once, not on every checkpoint save
        # (mmbdl.utils.formatted_config: 1.4 s a save on the demo config)
        if isinstance(cfg, Config):
            cfg = FormattedOnceConfig.of(cfg)
        elif isinstance(cfg, dict):
            cfg = FormattedOnceConfig(cfg)
        super().__init__(*args, cfg=cfg, **kwargs)

    def build_logger(self, log_level='INFO', log_file=None, **kwargs):
        """MMEngine's logger, with the brief console unless
        ``cfg.console == 'full'``."""
        logger = super().build_logger(log_level, log_file, **kwargs)
        self._warning_counter = None
        console = self.cfg.get('console', 'brief')
        if console not in ('brief', 'full'):
            raise ConfigCheckError(
                f"console must be 'brief' or 'full', got {console!r}")
        if console == 'brief':
            self._warning_counter = make_console_brief(logger)
        return logger

    def build_train_loop(self, loop):
        """MMEngine's, refusing unknown top-level ``train_cfg`` keys in one
        line with the closest valid key (instead of a ``TypeError``); once
        the loop is built (its config checks come first: they are cheap),
        the data is scanned once (:mod:`mmbdl.datasets.data_scan`; off
        with ``data_scan=False`` in the config or ``tools/train.py
        --skip-data-scan``) before any model is trained."""
        if isinstance(loop, dict) and isinstance(loop.get('type'), str):
            loop_cls = LOOPS.get(loop['type'])
            if isinstance(loop_cls, type):
                check_loop_keys(loop, loop_cls)
        loop = super().build_train_loop(loop)
        scan = self.cfg.get('data_scan', True)
        if (scan and not getattr(self, '_data_scanned', False)
                and self.cfg.get('train_dataloader') and is_main_process()):
            from mmbdl.datasets.data_scan import scan_config
            options = scan if isinstance(scan, dict) else {}
            scan_config(self.cfg, self.work_dir, **options)
            self._data_scanned = True
        return loop

    def save_checkpoint(self, out_dir, filename, *args, **kwargs):
        """MMEngine's, written atomically to a local folder: into a
        temporary file of the same folder, then renamed, so a failed write
        (a full disk: one ``error:`` line) leaves the previous checkpoint of
        that name intact."""
        if not is_main_process() or '://' in str(out_dir):
            return super().save_checkpoint(out_dir, filename, *args,
                                           **kwargs)
        final = osp.join(out_dir, filename)
        with atomic_path(final, what='checkpoint') as tmp:
            super().save_checkpoint(
                osp.dirname(tmp), osp.basename(tmp), *args, **kwargs)

    def load_checkpoint(self, filename, *args, **kwargs):
        """MMEngine's, with the missing / unexpected key dump of a
        checkpoint that does not fit in the log file only (the weights
        check names the counts on the console)."""
        with printed_to_log_file(self.logger):
            return super().load_checkpoint(filename, *args, **kwargs)

    def load_or_resume(self) -> None:
        """MMEngine's, but ``resume=True`` without ``load_from`` continues
        from the work dir's own latest checkpoint
        (:func:`~mmbdl.utils.weights.checkpoint_files.resume_checkpoint`:
        resolved against the work dir, the newest readable one where it is
        truncated)."""
        if self._has_loaded:
            return None
        if self._resume and self._load_from is None:
            path = resume_checkpoint(self.work_dir)
            if path is None:
                self.logger.info(
                    f'--resume: {self.work_dir} has no last_checkpoint; '
                    'starting from the beginning')
                return None
            self.logger.info(f'Auto resumed from the latest checkpoint '
                             f'{path}.')
            self.resume(path)
            self._has_loaded = True
            return None
        return super().load_or_resume()

    def val(self):
        """``Runner.val()`` with every INFO line on the console."""
        make_console_full(self.logger)
        return super().val()

    def test(self):
        """``Runner.test()`` with every INFO line on the console."""
        make_console_full(self.logger)
        return super().test()

    def train(self):
        """Train (the data scanned first, :meth:`build_train_loop`), then
        name the log file holding the Python warnings."""
        model = super().train()
        note = warnings_note(self._warning_counter, self.logger)
        if note is not None:
            self.logger.info(note)
        return model


# MMEngine's tools and mmseg's look runners up in the root registry
# (``RUNNERS.build(cfg)``), which searches parents, not mmbdl's child
# registry: register the class there too (same class, same name).
if ROOT_RUNNERS.get('BDLRunner') is None:
    ROOT_RUNNERS.register_module(module=BDLRunner)
