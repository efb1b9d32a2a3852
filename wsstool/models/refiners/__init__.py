"""Refiners (REFINERS): modules that refine CAMs or masks with image cues."""
from .confidence_mask import ConfidenceMask, score_margin
from .dense_crf import (CRF_PRESETS, DenseCRF, crf_cam_with_alpha,
                        crf_present_classes)
from .par import PAR
from .random_walk import RandomWalk
from .relation_label import AlphaRelationLabel, ThresholdRelationLabel

__all__ = [
    'AlphaRelationLabel', 'CRF_PRESETS', 'ConfidenceMask', 'DenseCRF', 'PAR',
    'RandomWalk', 'ThresholdRelationLabel', 'crf_cam_with_alpha', 'crf_present_classes',
    'score_margin'
]
