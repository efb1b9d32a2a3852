"""Registries of wsstool, children of mmengine's root registries.

Each registry lists the modules that define its members in ``locations``, so
that building from a config with ``default_scope='wsstool'`` imports them
lazily. ``ERASERS`` and ``REFINERS`` are WSSS-specific and have no mmengine
parent.
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import \
    RUNNER_CONSTRUCTORS as MMENGINE_RUNNER_CONSTRUCTORS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import \
    WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry as MMENGINE_REGISTRY


class Registry(MMENGINE_REGISTRY):
    """An mmengine registry whose failed look-ups explain themselves.

    ``get`` raises a ``KeyError`` naming the registry and listing what is
    registered in it (and in its parents), instead of returning ``None``.
    """

    def get(self, key: str):
        obj = super().get(key)
        if obj is None:
            raise KeyError(self._unknown_key_message(key))
        return obj

    def __contains__(self, key: str) -> bool:
        try:
            self.get(key)
        except KeyError:
            return False
        return True

    def _unknown_key_message(self, key: str) -> str:
        own = sorted(self._module_dict)
        inherited = sorted({
            name
            for parent in self._ancestors() for name in parent._module_dict
        } - set(own))
        return (f'{key!r} is not in the {self.scope}::{self.name} registry. '
                f'Registered in {self.scope}: {own or "nothing"}; inherited '
                f'from mmengine/mmcv: {inherited or "nothing"}. For a module '
                'defined outside wsstool, list its file in the config\'s '
                '`custom_imports` (see docs/add_plugin.md).')

    def _ancestors(self) -> list:
        parents, parent = [], self.parent
        while parent is not None:
            parents.append(parent)
            parent = parent.parent
        return parents

RUNNERS = Registry('runner', parent=MMENGINE_RUNNERS)
RUNNER_CONSTRUCTORS = Registry(
    'runner constructor', parent=MMENGINE_RUNNER_CONSTRUCTORS)
LOOPS = Registry(
    'loop', parent=MMENGINE_LOOPS, locations=['wsstool.engine'])
HOOKS = Registry(
    'hook', parent=MMENGINE_HOOKS, locations=['wsstool.engine'])

DATASETS = Registry(
    'dataset', parent=MMENGINE_DATASETS, locations=['wsstool.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler', parent=MMENGINE_DATA_SAMPLERS,
    locations=['wsstool.datasets'])
TRANSFORMS = Registry(
    'transform', parent=MMENGINE_TRANSFORMS,
    locations=['wsstool.datasets.transforms'])

MODELS = Registry('model', parent=MMENGINE_MODELS,
                  locations=['wsstool.models'])
MODEL_WRAPPERS = Registry(
    'model_wrapper', parent=MMENGINE_MODEL_WRAPPERS,
    locations=['wsstool.models', 'wsstool.engine'])
WEIGHT_INITIALIZERS = Registry(
    'weight initializer', parent=MMENGINE_WEIGHT_INITIALIZERS,
    locations=['wsstool.models'])

OPTIMIZERS = Registry(
    'optimizer', parent=MMENGINE_OPTIMIZERS,
    locations=['wsstool.engine'])
OPTIM_WRAPPERS = Registry(
    'optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS,
    locations=['wsstool.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    locations=['wsstool.engine'])
PARAM_SCHEDULERS = Registry(
    'parameter scheduler', parent=MMENGINE_PARAM_SCHEDULERS,
    locations=['wsstool.engine'])

METRICS = Registry('metric', parent=MMENGINE_METRICS,
                   locations=['wsstool.evaluation'])
EVALUATOR = Registry('evaluator', parent=MMENGINE_EVALUATOR,
                     locations=['wsstool.evaluation'])
TASK_UTILS = Registry('task util', parent=MMENGINE_TASK_UTILS,
                      locations=['wsstool.models'])

VISUALIZERS = Registry('visualizer', parent=MMENGINE_VISUALIZERS,
                       locations=['wsstool.visualization'])
VISBACKENDS = Registry('vis_backend', parent=MMENGINE_VISBACKENDS,
                       locations=['wsstool.visualization'])
LOG_PROCESSORS = Registry('log_processor', parent=MMENGINE_LOG_PROCESSORS,
                          locations=['wsstool.engine'])

# WSSS-specific registries (no mmengine counterpart).
ERASERS = Registry('eraser', scope='wsstool',
                   locations=['wsstool.models'])
REFINERS = Registry('refiner', scope='wsstool',
                    locations=['wsstool.models'])
PIPELINE_STAGES = Registry('pipeline stage', scope='wsstool',
                           locations=['wsstool.apis.pipeline'])
