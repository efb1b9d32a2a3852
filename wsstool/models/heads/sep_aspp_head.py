"""DeepLabV3+ decode head: depthwise-separable ASPP and low-level decoder."""
from collections import OrderedDict
from typing import List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from wsstool.registry import MODELS


def _conv_bn_relu(in_channels: int,
                  out_channels: int,
                  kernel_size: int = 1,
                  dilation: int = 1,
                  groups: int = 1) -> nn.Sequential:
    """Bias-free conv (size-preserving padding) + BN + ReLU, named
    ``conv``, ``bn``, ``relu``."""
    return nn.Sequential(
        OrderedDict(
            conv=nn.Conv2d(in_channels, out_channels, kernel_size,
                           padding=dilation * (kernel_size // 2),
                           dilation=dilation, groups=groups, bias=False),
            bn=nn.BatchNorm2d(out_channels),
            relu=nn.ReLU(inplace=True)))


def _depthwise_separable(in_channels: int,
                         out_channels: int,
                         dilation: int = 1) -> nn.Sequential:
    """Depthwise 3x3 conv-BN-ReLU (``groups=in_channels``) followed by a
    pointwise 1x1 conv-BN-ReLU, named ``depthwise_conv``,
    ``pointwise_conv``."""
    return nn.Sequential(
        OrderedDict(
            depthwise_conv=_conv_bn_relu(in_channels, in_channels, 3,
                                         dilation, groups=in_channels),
            pointwise_conv=_conv_bn_relu(in_channels, out_channels)))


@MODELS.register_module()
class DepthwiseSeparableASPPHead(BaseModule):
    """DeepLabV3+ head (BECO's ``SepASPP`` + decoder).

    ASPP on the high-level feature x (B, in_channels, h, w): one branch per
    dilation (1 -> 1x1 conv-BN-ReLU, d > 1 -> depthwise-separable 3x3 with
    rate d) plus image pooling (GAP -> 1x1 conv-BN-ReLU, broadcast to h x w),
    concatenated in that order ((len(dilations) + 1) * channels) ->
    ``bottleneck`` 1x1 conv-BN-ReLU -> ``channels`` -> Dropout.
    Decoder: the low-level feature (B, low_level_channels, H/4, W/4) ->
    ``c1_bottleneck`` 1x1 conv-BN-ReLU -> ``low_level_out_channels``; the ASPP
    output is upsampled to its size (bilinear, ``align_corners=False``) and
    concatenated after it -> ``sep_bottleneck`` depthwise-separable 3x3 ->
    ``channels`` -> ``conv_seg`` 1x1 (with bias) -> ``num_classes``.

    Args:
        in_channels (int): Channels of the high-level feature (2048 for
            ResNet-50/101, 512 for ResNet-18).
        low_level_channels (int): Channels of the low-level feature (256
            for ResNet-50/101 ``layer1``, 64 for ResNet-18).
        num_classes (int): Number of classes K, background included.
        channels (int): Width of the ASPP branches and the decoder.
        low_level_out_channels (int): Width of the low-level projection.
        dilations (Sequence[int]): Rates of the ASPP branches (1 = the 1x1
            branch). Defaults to (1, 6, 12, 18).
        dropout_ratio (float): Dropout after the ASPP bottleneck.
        in_index (int): Backbone output holding the high-level feature.
        low_level_index (int): Backbone output holding the low-level
            feature.
        init_cfg (dict or list[dict], optional): mmengine init config.
            Defaults to BECO's: Kaiming-normal (fan-in, ReLU gain) convs, BN
            weight 1 and bias 0; conv biases (only ``conv_seg``'s) are set to
            0, where BECO keeps PyTorch's default uniform bias.
    """

    def __init__(self,
                 in_channels: int,
                 low_level_channels: int,
                 num_classes: int,
                 channels: int = 256,
                 low_level_out_channels: int = 48,
                 dilations: Sequence[int] = (1, 6, 12, 18),
                 dropout_ratio: float = 0.1,
                 in_index: int = -1,
                 low_level_index: int = 0,
                 init_cfg: Optional[Union[dict, List[dict]]] = [
                     dict(type='Kaiming', layer='Conv2d', mode='fan_in',
                          nonlinearity='relu', distribution='normal'),
                     dict(type='Constant', layer='_BatchNorm', val=1, bias=0)
                 ]) -> None:
        super().__init__(init_cfg=init_cfg)
        if not dilations:
            raise ValueError('DepthwiseSeparableASPPHead needs at least one '
                             f'dilation, got dilations={tuple(dilations)}.')
        self.in_channels = in_channels
        self.low_level_channels = low_level_channels
        self.num_classes = num_classes
        self.channels = channels
        self.dilations = tuple(dilations)
        self.in_index = in_index
        self.low_level_index = low_level_index
        self.aspp_modules = nn.ModuleList(
            _conv_bn_relu(in_channels, channels) if dilation == 1 else
            _depthwise_separable(in_channels, channels, dilation)
            for dilation in self.dilations)
        self.image_pool = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), _conv_bn_relu(in_channels, channels))
        self.bottleneck = _conv_bn_relu(
            (len(self.dilations) + 1) * channels, channels)
        self.dropout = nn.Dropout(dropout_ratio)
        self.c1_bottleneck = _conv_bn_relu(low_level_channels,
                                           low_level_out_channels)
        self.sep_bottleneck = _depthwise_separable(
            channels + low_level_out_channels, channels)
        self.conv_seg = nn.Conv2d(channels, num_classes, 1)

    def aspp(self, x: Tensor) -> Tensor:
        """ASPP features (B, channels, h, w) of x (B, in_channels, h, w)."""
        pooled = self.image_pool(x).expand(-1, -1, *x.shape[2:])
        branches = [module(x) for module in self.aspp_modules] + [pooled]
        return self.dropout(self.bottleneck(torch.cat(branches, dim=1)))

    def forward(self, feats: Sequence[Tensor]) -> Tensor:
        """Class scores (B, num_classes, H/4, W/4) at the size of the
        low-level feature, before softmax."""
        low_level = self.c1_bottleneck(feats[self.low_level_index])
        aspp = F.interpolate(self.aspp(feats[self.in_index]),
                             size=low_level.shape[2:], mode='bilinear',
                             align_corners=False)
        return self.conv_seg(
            self.sep_bottleneck(torch.cat([low_level, aspp], dim=1)))
