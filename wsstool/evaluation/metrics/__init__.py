from .cam_iou import (CAMIoUMetric, sweep_confusions, sweep_histogram,
                      threshold_grid)
from .seg_iou import BaseIoUMetric, SegIoUMetric

__all__ = [
    'BaseIoUMetric', 'CAMIoUMetric', 'SegIoUMetric', 'sweep_confusions',
    'sweep_histogram', 'threshold_grid'
]
