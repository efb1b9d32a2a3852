from .coco import COCODataset
from .paired_dataset import ClassPairedDataset
from .transforms import *  # noqa: F401,F403
from .voc import VOCDataset
from .synthvoc import SynthVOCDataset

__all__ = [
    'VOCDataset', 'COCODataset', 'SynthVOCDataset', 'ClassPairedDataset'
]
