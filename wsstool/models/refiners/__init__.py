"""Refiners (REFINERS): modules that refine CAMs or masks with image cues."""
from .dense_crf import CRF_PRESETS, DenseCRF, crf_cam_with_alpha
from .par import PAR

__all__ = ['CRF_PRESETS', 'DenseCRF', 'PAR', 'crf_cam_with_alpha']
