from .resnet import ResNet
from .resnet38d import ResNet38d

__all__ = ['ResNet', 'ResNet38d']
