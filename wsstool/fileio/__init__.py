from .atomic import atomic_write
from .atomic_backend import AtomicLocalBackend, register_atomic_local_backend
from .cam_io import (CAM_FORMATS, CAM_SUFFIXES, find_cam_file, load_cam,
                     save_cam)
from .label_io import full_palette, load_label_png, save_image, save_label_png

__all__ = [
    'atomic_write', 'AtomicLocalBackend', 'register_atomic_local_backend',
    'CAM_FORMATS', 'CAM_SUFFIXES', 'find_cam_file', 'load_cam', 'save_cam',
    'full_palette', 'load_label_png', 'save_image', 'save_label_png'
]
