"""A config whose yapf-formatted text is computed once per content.

MMEngine's ``Runner.save_checkpoint`` writes ``cfg.pretty_text`` into every
checkpoint's meta, and ``Config.pretty_text`` formats the whole config with
yapf each time it is read: measured here, 1.4 s for the demo config, on
each of the demo's 22 saves (about 30 s of a 300 s run). The runner's
config (:class:`~mmbdl.engine.runner.BDLRunner`) keeps the formatted text
next to the unformatted one it came from and formats again only when that
changes, so the text is MMEngine's to the character.
"""
from mmengine.config import Config

__all__ = ['FormattedOnceConfig']


class FormattedOnceConfig(Config):
    """A :class:`~mmengine.config.Config` that formats its text once.

    :attr:`pretty_text` first builds the unformatted text (milliseconds),
    then reuses the formatted text of the last call if the unformatted text
    is the same; a config changed in between is formatted again. Copies
    (``copy.copy`` / ``copy.deepcopy``, which MMEngine's Runner makes) keep
    the class; a pickled one formats once more after loading.
    """

    @classmethod
    def of(cls, cfg: Config) -> 'FormattedOnceConfig':
        """A shallow copy of ``cfg`` with this class (the same dict).

        Args:
            cfg (Config): Any config.

        Returns:
            FormattedOnceConfig: ``cfg``'s content with cached formatting.
        """
        if isinstance(cfg, cls):
            return cfg
        other = cls.__new__(cls)
        other.__dict__.update(cfg.__dict__)
        return other

    @property
    def pretty_text(self) -> str:
        """str: ``Config.pretty_text``, formatted by yapf once per
        content."""
        text_of = Config.pretty_text.fget
        if not self._format_python_code:
            return text_of(self)
        object.__setattr__(self, '_format_python_code', False)
        try:
            raw = text_of(self)
        finally:
            object.__setattr__(self, '_format_python_code', True)
        memo = self.__dict__.get('_formatted_text')
        if memo is None or memo[0] != raw:
            memo = (raw, text_of(self))
            object.__setattr__(self, '_formatted_text', memo)
        return memo[1]
