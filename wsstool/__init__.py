"""wsstool: a toolbox for weakly supervised semantic segmentation."""
from .version import __version__

__all__ = ['__version__']
