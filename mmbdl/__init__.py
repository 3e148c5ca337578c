"""mmbdl: Bidirectional Learning for domain adaptive segmentation."""
# The dependency check runs before anything imports mmengine/mmseg, so that
# a missing or unsupported package gives one clear message.
from .version_check import check_dependencies

check_dependencies()

from .utils.checkpoint import register_checkpoint_safe_globals  # noqa: E402
from .version import __version__  # noqa: E402

register_checkpoint_safe_globals()

__all__ = ['__version__', 'check_dependencies']
