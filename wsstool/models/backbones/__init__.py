from .drs_resnet import DRS, DRSResNet, discriminative_region_suppression
from .resnet import ResNet, ResNetV1d
from .resnet38d import ResNet38d

__all__ = [
    'DRS', 'DRSResNet', 'ResNet', 'ResNetV1d', 'ResNet38d',
    'discriminative_region_suppression'
]
