"""mmbdl registries: children of MMSegmentation's, scope ``mmbdl``.

Every registry here has the matching MMSegmentation registry as parent, so a
config under ``default_scope='mmbdl'`` finds mmbdl modules first, then
MMSegmentation's and MMEngine's. MMagic modules (a sibling library) are
reached with their scope prefix, e.g. ``type='mmagic.ResnetGenerator'``.
``locations`` lists the packages imported on first use, so building from a
registry works without importing the modules by hand.
"""
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
from mmseg.registry import \
    WEIGHT_INITIALIZERS as MMSEG_WEIGHT_INITIALIZERS

RUNNERS = Registry(
    'runner', parent=MMSEG_RUNNERS, scope='mmbdl',
    locations=['mmbdl.engine'])
RUNNER_CONSTRUCTORS = Registry(
    'runner constructor', parent=MMSEG_RUNNER_CONSTRUCTORS, scope='mmbdl',
    locations=['mmbdl.engine'])
LOOPS = Registry(
    'loop', parent=MMSEG_LOOPS, scope='mmbdl',
    locations=['mmbdl.engine.runner'])
HOOKS = Registry(
    'hook', parent=MMSEG_HOOKS, scope='mmbdl',
    locations=['mmbdl.engine.hooks'])

DATASETS = Registry(
    'dataset', parent=MMSEG_DATASETS, scope='mmbdl',
    locations=['mmbdl.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler', parent=MMSEG_DATA_SAMPLERS, scope='mmbdl',
    locations=['mmbdl.datasets'])
TRANSFORMS = Registry(
    'transform', parent=MMSEG_TRANSFORMS, scope='mmbdl',
    locations=['mmbdl.datasets.transforms'])

MODELS = Registry(
    'model', parent=MMSEG_MODELS, scope='mmbdl',
    locations=['mmbdl.models'])
MODEL_WRAPPERS = Registry(
    'model_wrapper', parent=MMSEG_MODEL_WRAPPERS, scope='mmbdl',
    locations=['mmbdl.models'])
WEIGHT_INITIALIZERS = Registry(
    'weight initializer', parent=MMSEG_WEIGHT_INITIALIZERS, scope='mmbdl',
    locations=['mmbdl.models'])
TASK_UTILS = Registry(
    'task util', parent=MMSEG_TASK_UTILS, scope='mmbdl',
    locations=['mmbdl.models'])

OPTIMIZERS = Registry(
    'optimizer', parent=MMSEG_OPTIMIZERS, scope='mmbdl',
    locations=['mmbdl.engine.optimizers'])
OPTIM_WRAPPERS = Registry(
    'optim_wrapper', parent=MMSEG_OPTIM_WRAPPERS, scope='mmbdl',
    locations=['mmbdl.engine.optimizers'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor', parent=MMSEG_OPTIM_WRAPPER_CONSTRUCTORS,
    scope='mmbdl', locations=['mmbdl.engine.optimizers'])
PARAM_SCHEDULERS = Registry(
    'parameter scheduler', parent=MMSEG_PARAM_SCHEDULERS, scope='mmbdl',
    locations=['mmbdl.engine.optimizers'])

METRICS = Registry(
    'metric', parent=MMSEG_METRICS, scope='mmbdl',
    locations=['mmbdl.evaluation'])
EVALUATOR = Registry(
    'evaluator', parent=MMSEG_EVALUATOR, scope='mmbdl',
    locations=['mmbdl.evaluation'])

VISUALIZERS = Registry(
    'visualizer', parent=MMSEG_VISUALIZERS, scope='mmbdl',
    locations=['mmbdl.visualization'])
VISBACKENDS = Registry(
    'vis_backend', parent=MMSEG_VISBACKENDS, scope='mmbdl',
    locations=['mmbdl.visualization'])
LOG_PROCESSORS = Registry(
    'log_processor', parent=MMSEG_LOG_PROCESSORS, scope='mmbdl',
    locations=['mmbdl.visualization'])
INFERENCERS = Registry(
    'inferencer', parent=MMSEG_INFERENCERS, scope='mmbdl',
    locations=['mmbdl.models'])
