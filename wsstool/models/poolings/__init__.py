"""Pooling modules turning class maps into image-level logits."""
from .gated_pyramid_pool import GatedFusion, GatedPyramidPool
from .global_avg_pool import GlobalAvgPool

__all__ = ['GatedFusion', 'GatedPyramidPool', 'GlobalAvgPool']
