from .formatting import PackWSSSInputs
from .loading import LoadImageFromFile, LoadWSSSAnnotations
from .processing import (PhotoMetricDistortion, RandomCropWithPad, RandomFlip,
                         RandomLongSideResize, RandomRescale, Resize)

__all__ = [
    'LoadImageFromFile', 'LoadWSSSAnnotations', 'Resize',
    'RandomLongSideResize', 'RandomRescale', 'RandomFlip', 'RandomCropWithPad',
    'PhotoMetricDistortion', 'PackWSSSInputs'
]
