"""Models of mmbdl; importing this package registers all of them."""
from .algorithms import *  # noqa: F401,F403
from .backbones import *  # noqa: F401,F403
from .data_preprocessors import *  # noqa: F401,F403
from .decode_heads import *  # noqa: F401,F403
from .discriminators import *  # noqa: F401,F403
from .segmentors import *  # noqa: F401,F403
from .translators import *  # noqa: F401,F403
from .uda_terms import *  # noqa: F401,F403
from .utils import *  # noqa: F401,F403
from .wrappers import *  # noqa: F401,F403
