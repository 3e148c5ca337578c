"""A console a person can read; the full log stays in the work dir.

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
import logging
from typing import Optional, Sequence

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
