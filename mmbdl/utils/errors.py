"""The project's error types for deliberate user errors.

An exception of a class derived from :class:`MMBDLUserError` says that the
run cannot go on because of something the user controls (a config key, a
file, a data set, a command-line option) and its message names the cause and
the fix. The command-line tools print such an error as one ``error:`` line
(:func:`mmbdl.utils.run_cli`); every other exception is a bug or an
unexpected failure and keeps its traceback.

The classes also derive from the matching built-in type (``ValueError``,
``FileNotFoundError``, ...), so code that catches those keeps working.
"""


class MMBDLUserError(Exception):
    """A deliberate error for the user; the message names the fix."""


class ConfigCheckError(MMBDLUserError, ValueError):
    """A config (or option) that cannot be used, with the fix in the
    message."""


class ConfigTypeError(MMBDLUserError, TypeError):
    """A config entry of the wrong type, with the fix in the message."""


class MissingFileError(MMBDLUserError, FileNotFoundError):
    """A file or folder the run needs is missing; the message says which
    and how to get it."""


class RunStateError(MMBDLUserError, RuntimeError):
    """The work dir or a checkpoint is in a state this run cannot continue
    from (e.g. a phase output written by another run); the message says
    how to proceed."""
