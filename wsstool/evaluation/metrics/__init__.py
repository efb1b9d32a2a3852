from .cam_iou import (CAMIoUMetric, sweep_confusions, sweep_histogram,
                      threshold_grid)
from .conf_mask import ConfidenceMaskMetric
from .seg_iou import BaseIoUMetric, SegIoUMetric

__all__ = [
    'BaseIoUMetric', 'CAMIoUMetric', 'ConfidenceMaskMetric', 'SegIoUMetric',
    'sweep_confusions', 'sweep_histogram', 'threshold_grid'
]
