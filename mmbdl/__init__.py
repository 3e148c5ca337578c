"""mmbdl: Bidirectional Learning for domain adaptive segmentation."""
import warnings

# diffusers (imported by mmagic) calls a torch function deprecated since
# torch 2.2 when it is imported: nothing a user can act on, kept off the
# console of every entry point
warnings.filterwarnings(
    'ignore', category=FutureWarning,
    message=r'`torch\.utils\._pytree\._register_pytree_node` is deprecated')
# numpy 2 removed np.bool8, which MMagic 1.2.0 names when it is imported:
# the alias is restored before anything imports MMagic
from .numpy_compat import apply_numpy2_aliases  # noqa: E402

apply_numpy2_aliases()
# The dependency check runs before anything imports mmengine/mmseg, so that
# a missing or unsupported package gives one clear message.
from .version_check import check_dependencies  # noqa: E402

check_dependencies()

from .utils.weights import register_checkpoint_safe_globals  # noqa: E402
from .version import __version__  # noqa: E402

register_checkpoint_safe_globals()

__all__ = ['__version__', 'check_dependencies']
