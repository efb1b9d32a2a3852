from .functional import (NAN_POLICIES, class_scores, confusion_cells,
                         confusion_matrix)
from .metrics import (BaseIoUMetric, CAMIoUMetric, ConfidenceMaskMetric,
                      SegIoUMetric, sweep_confusions, sweep_histogram,
                      threshold_grid)

__all__ = [
    'NAN_POLICIES', 'class_scores', 'confusion_cells', 'confusion_matrix',
    'BaseIoUMetric', 'CAMIoUMetric', 'ConfidenceMaskMetric', 'SegIoUMetric',
    'sweep_confusions', 'sweep_histogram', 'threshold_grid'
]
