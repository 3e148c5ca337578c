"""mmbdl registries: children of MMSegmentation's, scope ``mmbdl``.

Every registry here has the matching MMSegmentation registry as parent, so a
config under ``default_scope='mmbdl'`` finds mmbdl modules first, then
MMSegmentation's and MMEngine's. MMagic modules (a sibling library) are
reached with their scope prefix, e.g. ``type='mmagic.ResnetGenerator'``.

``locations`` lists the packages imported on first use. MMEngine imports the
locations of the registry a lookup starts in, not those of its parents, so
each registry here lists its parent's locations before its own: building any
type in the ``mmbdl`` scope works without ``register_all_modules()``, from
any entry point (MMSegmentation's ``tools/train.py`` included).
"""
from typing import List

from mmengine.registry import Registry
from mmseg.registry import DATA_SAMPLERS as MMSEG_DATA_SAMPLERS
from mmseg.registry import DATASETS as MMSEG_DATASETS
from mmseg.registry import EVALUATOR as MMSEG_EVALUATOR
from mmseg.registry import HOOKS as MMSEG_HOOKS
from mmseg.registry import INFERENCERS as MMSEG_INFERENCERS
from mmseg.registry import LOG_PROCESSORS as MMSEG_LOG_PROCESSORS
from mmseg.registry import LOOPS as MMSEG_LOOPS
from mmseg.registry import METRICS as MMSEG_METRICS
from mmseg.registry import MODEL_WRAPPERS as MMSEG_MODEL_WRAPPERS
from mmseg.registry import MODELS as MMSEG_MODELS
from mmseg.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMSEG_OPTIM_WRAPPER_CONSTRUCTORS
from mmseg.registry import OPTIM_WRAPPERS as MMSEG_OPTIM_WRAPPERS
from mmseg.registry import OPTIMIZERS as MMSEG_OPTIMIZERS
from mmseg.registry import PARAM_SCHEDULERS as MMSEG_PARAM_SCHEDULERS
from mmseg.registry import RUNNER_CONSTRUCTORS as MMSEG_RUNNER_CONSTRUCTORS
from mmseg.registry import RUNNERS as MMSEG_RUNNERS
from mmseg.registry import TASK_UTILS as MMSEG_TASK_UTILS
from mmseg.registry import TRANSFORMS as MMSEG_TRANSFORMS
from mmseg.registry import VISBACKENDS as MMSEG_VISBACKENDS
from mmseg.registry import VISUALIZERS as MMSEG_VISUALIZERS
from mmseg.registry import WEIGHT_INITIALIZERS as MMSEG_WEIGHT_INITIALIZERS


def _locations(parent: Registry, *own: str) -> List[str]:
    """The lazy-import locations of a child of ``parent``.

    Args:
        parent (Registry): The MMSegmentation registry.
        *own (str): mmbdl's packages that register into the child.

    Returns:
        list[str]: The parent's locations (recursively its ancestors'),
        then ``own``.
    """
    inherited: List[str] = []
    while parent is not None:
        inherited = list(parent._locations) + inherited
        parent = parent.parent
    return [loc for i, loc in enumerate(inherited)
            if loc not in inherited[:i]] + list(own)


RUNNERS = Registry(
    'runner', parent=MMSEG_RUNNERS, scope='mmbdl',
    locations=_locations(MMSEG_RUNNERS, 'mmbdl.engine'))
RUNNER_CONSTRUCTORS = Registry(
    'runner constructor', parent=MMSEG_RUNNER_CONSTRUCTORS, scope='mmbdl',
    locations=_locations(MMSEG_RUNNER_CONSTRUCTORS, 'mmbdl.engine'))
LOOPS = Registry(
    'loop', parent=MMSEG_LOOPS, scope='mmbdl',
    locations=_locations(MMSEG_LOOPS, 'mmbdl.engine.runner'))
HOOKS = Registry(
    'hook', parent=MMSEG_HOOKS, scope='mmbdl',
    locations=_locations(MMSEG_HOOKS, 'mmbdl.engine.hooks'))

DATASETS = Registry(
    'dataset', parent=MMSEG_DATASETS, scope='mmbdl',
    locations=_locations(MMSEG_DATASETS, 'mmbdl.datasets'))
DATA_SAMPLERS = Registry(
    'data sampler', parent=MMSEG_DATA_SAMPLERS, scope='mmbdl',
    locations=_locations(MMSEG_DATA_SAMPLERS, 'mmbdl.datasets'))
TRANSFORMS = Registry(
    'transform', parent=MMSEG_TRANSFORMS, scope='mmbdl',
    locations=_locations(MMSEG_TRANSFORMS, 'mmbdl.datasets.transforms'))

MODELS = Registry(
    'model', parent=MMSEG_MODELS, scope='mmbdl',
    locations=_locations(MMSEG_MODELS, 'mmbdl.models'))
MODEL_WRAPPERS = Registry(
    'model_wrapper', parent=MMSEG_MODEL_WRAPPERS, scope='mmbdl',
    locations=_locations(MMSEG_MODEL_WRAPPERS, 'mmbdl.models'))
WEIGHT_INITIALIZERS = Registry(
    'weight initializer', parent=MMSEG_WEIGHT_INITIALIZERS, scope='mmbdl',
    locations=_locations(MMSEG_WEIGHT_INITIALIZERS, 'mmbdl.models'))
TASK_UTILS = Registry(
    'task util', parent=MMSEG_TASK_UTILS, scope='mmbdl',
    locations=_locations(MMSEG_TASK_UTILS, 'mmbdl.models'))

OPTIMIZERS = Registry(
    'optimizer', parent=MMSEG_OPTIMIZERS, scope='mmbdl',
    locations=_locations(MMSEG_OPTIMIZERS, 'mmbdl.engine.optimizers'))
OPTIM_WRAPPERS = Registry(
    'optim_wrapper', parent=MMSEG_OPTIM_WRAPPERS, scope='mmbdl',
    locations=_locations(MMSEG_OPTIM_WRAPPERS, 'mmbdl.engine.optimizers'))
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor', parent=MMSEG_OPTIM_WRAPPER_CONSTRUCTORS,
    scope='mmbdl',
    locations=_locations(MMSEG_OPTIM_WRAPPER_CONSTRUCTORS,
                         'mmbdl.engine.optimizers'))
PARAM_SCHEDULERS = Registry(
    'parameter scheduler', parent=MMSEG_PARAM_SCHEDULERS, scope='mmbdl',
    locations=_locations(MMSEG_PARAM_SCHEDULERS, 'mmbdl.engine.optimizers'))

METRICS = Registry(
    'metric', parent=MMSEG_METRICS, scope='mmbdl',
    locations=_locations(MMSEG_METRICS, 'mmbdl.evaluation'))
EVALUATOR = Registry(
    'evaluator', parent=MMSEG_EVALUATOR, scope='mmbdl',
    locations=_locations(MMSEG_EVALUATOR, 'mmbdl.evaluation'))

VISUALIZERS = Registry(
    'visualizer', parent=MMSEG_VISUALIZERS, scope='mmbdl',
    locations=_locations(MMSEG_VISUALIZERS, 'mmbdl.visualization'))
VISBACKENDS = Registry(
    'vis_backend', parent=MMSEG_VISBACKENDS, scope='mmbdl',
    locations=_locations(MMSEG_VISBACKENDS, 'mmbdl.visualization'))
LOG_PROCESSORS = Registry(
    'log_processor', parent=MMSEG_LOG_PROCESSORS, scope='mmbdl',
    locations=_locations(MMSEG_LOG_PROCESSORS, 'mmbdl.visualization'))
# the kinds of phase of the BDL loop (one spec class per kind; no
# MMSegmentation counterpart, hence no parent)
PHASE_KINDS = Registry(
    'phase kind', scope='mmbdl', locations=['mmbdl.engine.runner.phase_kinds'])
# the loss terms of M's training step (one class per UDA loss; no
# MMSegmentation counterpart, hence no parent)
LOSS_TERMS = Registry(
    'loss term', scope='mmbdl', locations=['mmbdl.models.uda_terms'])
INFERENCERS = Registry(
    'inferencer', parent=MMSEG_INFERENCERS, scope='mmbdl',
    locations=_locations(MMSEG_INFERENCERS, 'mmbdl.models'))
