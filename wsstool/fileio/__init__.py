from .atomic import atomic_write
from .atomic_backend import AtomicLocalBackend, register_atomic_local_backend
from .cam_io import CAM_FORMATS, load_cam, save_cam
from .label_io import load_label_png, save_label_png

__all__ = [
    'atomic_write', 'AtomicLocalBackend', 'register_atomic_local_backend',
    'CAM_FORMATS', 'load_cam', 'save_cam', 'load_label_png', 'save_label_png'
]
