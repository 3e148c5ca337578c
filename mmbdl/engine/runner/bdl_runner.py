"""MMEngine's Runner with a readable console (``runner_type='BDLRunner'``)."""
import io
import logging
import os.path as osp
from contextlib import contextmanager, redirect_stdout

from mmengine.dist import is_main_process
from mmengine.registry import RUNNERS as ROOT_RUNNERS
from mmengine.runner import Runner

from mmbdl.registry import LOOPS, RUNNERS
from mmbdl.utils.atomic_write import atomic_path
from mmbdl.utils.config_names import check_loop_keys
from mmbdl.utils.errors import ConfigCheckError
from mmbdl.utils.weights import resume_checkpoint
from .console import make_console_brief, make_console_full, warnings_note

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
    round table and the translation / pseudo-labelling progress bars (see
    :mod:`.console`). ``val()`` and ``test()`` show every INFO line from
    their start (the evaluation is what a person runs them for). Set
    ``console='full'`` in the config for MMEngine's console throughout (the
    config dump, the environment, every INFO line).
    """

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
