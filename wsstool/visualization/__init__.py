from .cam_overlay import cam_overlay_grid, overlay_heatmap

__all__ = ['cam_overlay_grid', 'overlay_heatmap']
