from .atomic import atomic_write
from .cam_io import CAM_FORMATS, load_cam, save_cam
from .label_io import load_label_png, save_label_png

__all__ = [
    'atomic_write', 'CAM_FORMATS', 'load_cam', 'save_cam', 'load_label_png',
    'save_label_png'
]
