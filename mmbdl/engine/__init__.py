"""Engine parts of mmbdl: hooks, loops and optimizer constructors."""
from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
from .pseudo_labeling import *  # noqa: F401,F403
from .runner import *  # noqa: F401,F403
