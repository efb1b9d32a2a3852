from .functional import (NAN_POLICIES, class_scores, confusion_cells,
                         confusion_matrix)
from .metrics import (BaseIoUMetric, CAMIoUMetric, SegIoUMetric,
                      sweep_confusions, sweep_histogram, threshold_grid)

__all__ = [
    'NAN_POLICIES', 'class_scores', 'confusion_cells', 'confusion_matrix',
    'BaseIoUMetric', 'CAMIoUMetric', 'SegIoUMetric', 'sweep_confusions',
    'sweep_histogram', 'threshold_grid'
]
