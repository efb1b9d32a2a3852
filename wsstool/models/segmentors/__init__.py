"""Segmentation networks trained on pseudo labels (stage 3)."""
from .base import BaseSegmentor
from .beco import BECO, beco_checkpoint_to_state_dict
from .encoder_decoder import EncoderDecoder

__all__ = [
    'BaseSegmentor', 'BECO', 'EncoderDecoder', 'beco_checkpoint_to_state_dict'
]
