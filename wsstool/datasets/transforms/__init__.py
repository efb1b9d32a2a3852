from .formatting import PackWSSSInputs
from .loading import LoadCAMFromFile, LoadImageFromFile, LoadWSSSAnnotations
from .processing import (PhotoMetricDistortion, RandomCropWithPad, RandomFlip,
                         RandomLongSideResize, RandomRescale,
                         RandomResizedCrop, Resize)
from .superpixels import ComputeSuperpixels

__all__ = [
    'LoadCAMFromFile', 'LoadImageFromFile', 'LoadWSSSAnnotations', 'Resize',
    'RandomLongSideResize', 'RandomRescale', 'RandomResizedCrop',
    'RandomFlip', 'RandomCropWithPad', 'PhotoMetricDistortion',
    'PackWSSSInputs', 'ComputeSuperpixels'
]
