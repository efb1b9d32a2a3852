from .resnet import ResNet, ResNetV1d
from .resnet38d import ResNet38d

__all__ = ['ResNet', 'ResNetV1d', 'ResNet38d']
