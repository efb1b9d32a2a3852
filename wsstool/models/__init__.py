"""Models of wsstool; importing this package registers them in MODELS."""
from .backbones import *  # noqa: F401,F403
from .classifiers import *  # noqa: F401,F403
from .data_preprocessors import *  # noqa: F401,F403
from .erasers import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .methods import *  # noqa: F401,F403
from .poolings import *  # noqa: F401,F403
from .refine_nets import *  # noqa: F401,F403
from .refiners import *  # noqa: F401,F403
from .segmentors import *  # noqa: F401,F403
from .utils import *  # noqa: F401,F403
from .wsss_model import WSSSModel  # noqa: F401
