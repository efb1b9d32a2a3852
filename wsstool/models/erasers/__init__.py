"""Erasing strategies (ERASERS) of the adversarial-erasing CAM methods."""
from .base import BaseEraser, ErasingInputs, ThresholdEraser
from .copy_paste import CopyPasteEraser
from .hard_threshold import HardThresholdEraser
from .simulated_inter_image import SimulatedInterImageEraser
from .soft_cam import SoftCAMEraser

__all__ = [
    'BaseEraser', 'CopyPasteEraser', 'ErasingInputs', 'HardThresholdEraser',
    'SoftCAMEraser', 'SimulatedInterImageEraser', 'ThresholdEraser'
]
