"""Test-wide set-up: register every module under the mmbdl scope once."""
import os

os.environ.setdefault('OMP_NUM_THREADS', '2')

from mmbdl.utils import register_all_modules  # noqa: E402

register_all_modules(init_default_scope=True)
