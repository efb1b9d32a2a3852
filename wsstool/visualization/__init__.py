from .cam_overlay import cam_overlay_grid, overlay_heatmap
from .result_grid import (cam_panels, colorize_label, compose_row, fit_panel,
                          per_image_miou, stack_rows, worst_images)
from .vis_backends import OptionalTensorboardVisBackend

__all__ = [
    'cam_overlay_grid', 'overlay_heatmap', 'cam_panels', 'colorize_label',
    'compose_row', 'fit_panel', 'per_image_miou', 'stack_rows',
    'worst_images', 'OptionalTensorboardVisBackend'
]
