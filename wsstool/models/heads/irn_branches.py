"""The two branches of IRNet: class boundaries and instance displacements.

Both take the five backbone features of IRN (stem after the max-pool,
``layer1`` ... ``layer4``; strides 4, 4, 8, 16, 16 for the IRN ResNet-50)
and predict at the stride of the first two (stride 4).
"""
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsstool.registry import MODELS

NUM_FEATURES = 5
RESNET50_CHANNELS = (64, 256, 512, 1024, 2048)


def conv_gn(in_channels: int, out_channels: int, groups: int) -> nn.Sequential:
    """1x1 convolution without bias followed by GroupNorm."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, bias=False),
        nn.GroupNorm(groups, out_channels))


def upsample_and_crop(x: Tensor, size: Tuple[int, int]) -> Tensor:
    """Bring a coarser map to ``size`` the IRN way.

    The map is upsampled bilinearly (``align_corners=False``) by the
    smallest power of two f with ``h * f >= size`` in both dimensions (the
    stride ratio of the two feature maps, derived from their sizes), then
    its bottom/right excess is cropped.

    Args:
        x (Tensor): (B, C, h, w) map.
        size (tuple[int, int]): Target (H, W), at least (h, w).

    Returns:
        Tensor: (B, C, H, W).
    """
    factor = 1
    while x.shape[-2] * factor < size[0] or x.shape[-1] * factor < size[1]:
        factor *= 2
    if factor > 1:
        x = F.interpolate(
            x, scale_factor=factor, mode='bilinear', align_corners=False)
    return x[..., :size[0], :size[1]]


def _check_features(owner: str, features: Sequence[Tensor],
                    in_channels: Sequence[int]) -> None:
    channels = tuple(f.shape[1] for f in features)
    if channels != tuple(in_channels):
        raise ValueError(
            f'{owner} expects {len(in_channels)} features with channels '
            f'{tuple(in_channels)} (stem, layer1 .. layer4), got {channels}.')


def _check_in_channels(owner: str, in_channels: Sequence[int]) -> None:
    if len(in_channels) != NUM_FEATURES:
        raise ValueError(
            f'{owner} in_channels={tuple(in_channels)}: expected '
            f'{NUM_FEATURES} values (stem, layer1 .. layer4).')


class _IRNBranch(nn.Module):
    """Five IRN features through their own 1x1 conv + GroupNorm
    (``lateral_convs``).

    Args:
        in_channels (Sequence[int]): Channels of the 5 features.
        out_channels (Sequence[int]): Output channels of each conv.
        groups (Sequence[int]): GroupNorm groups of each conv.
    """

    def __init__(self, in_channels: Sequence[int],
                 out_channels: Sequence[int], groups: Sequence[int]) -> None:
        super().__init__()
        _check_in_channels(type(self).__name__, in_channels)
        self.in_channels = tuple(in_channels)
        self.lateral_convs = nn.ModuleList(
            conv_gn(c, out, g)
            for c, out, g in zip(in_channels, out_channels, groups))

    def lateral_maps(self, features: Sequence[Tensor]) -> List[Tensor]:
        """The 5 maps (B, out_channels[i], h_i, w_i) of the 5 features
        (B, C_i, h_i, w_i), before any activation."""
        _check_features(type(self).__name__, features, self.in_channels)
        return [
            conv(feature)
            for conv, feature in zip(self.lateral_convs, features)
        ]


@MODELS.register_module()
class BoundaryBranch(_IRNBranch):
    """IRN class-boundary branch.

    Each feature goes through a 1x1 conv to 32 channels, GroupNorm(4),
    upsampling to the stride-4 size (:func:`upsample_and_crop`) and ReLU;
    the five maps are concatenated (160 channels) and a 1x1 conv with bias
    gives the boundary logit.

    Args:
        in_channels (Sequence[int]): Channels of the 5 features; defaults
            to ResNet-50's, ResNet-18's are (64, 64, 128, 256, 512).
    """

    channels = 32
    groups = 4

    def __init__(self,
                 in_channels: Sequence[int] = RESNET50_CHANNELS) -> None:
        super().__init__(in_channels, (self.channels, ) * NUM_FEATURES,
                         (self.groups, ) * NUM_FEATURES)
        self.conv_boundary = nn.Conv2d(
            NUM_FEATURES * self.channels, 1, 1, bias=True)

    def forward(self, features: Sequence[Tensor]) -> Tensor:
        """Boundary logits.

        Args:
            features (Sequence[Tensor]): 5 maps (B, C_i, h_i, w_i); the
                second (``layer1``) sets the output size (h4, w4).

        Returns:
            Tensor: (B, 1, h4, w4) logits; sigmoid gives the boundary map.
        """
        maps = self.lateral_maps(features)
        size = tuple(maps[1].shape[-2:])
        maps = [F.relu(upsample_and_crop(m, size)) for m in maps]
        return self.conv_boundary(torch.cat(maps, dim=1))


@MODELS.register_module()
class DisplacementBranch(_IRNBranch):
    """IRN instance-displacement branch.

    1x1 conv + GroupNorm + ReLU per feature: stem -> 64 (GN 8), layer1 ->
    128, layer2 -> 256, layer3 -> 256 and layer4 -> 256 (GN 16; the last two
    upsampled to the ``layer2`` size before the ReLU). The three deep maps
    are fused (768 -> 256, GN 16, upsampled to the stride-4 size, ReLU),
    concatenated with the two shallow ones (448 channels) and fused again
    (448 -> 256, GN 16, ReLU) before a 1x1 conv without bias predicts the
    2-channel displacement (dy, dx) in stride-4 pixels.

    In eval mode the buffer ``mean_shift`` (2,), the mean displacement over
    the inference images, is subtracted (zeros unless set; only instance
    labels use it).

    Args:
        in_channels (Sequence[int]): Channels of the 5 features; defaults
            to ResNet-50's.
    """

    channels = (64, 128, 256, 256, 256)
    groups = (8, 16, 16, 16, 16)
    fuse_channels = 256
    fuse_groups = 16

    def __init__(self,
                 in_channels: Sequence[int] = RESNET50_CHANNELS) -> None:
        super().__init__(in_channels, self.channels, self.groups)
        self.deep_fuse = conv_gn(
            sum(self.channels[2:]), self.fuse_channels, self.fuse_groups)
        self.fuse = conv_gn(
            sum(self.channels[:2]) + self.fuse_channels, self.fuse_channels,
            self.fuse_groups)
        self.conv_disp = nn.Conv2d(self.fuse_channels, 2, 1, bias=False)
        self.register_buffer('mean_shift', torch.zeros(2))

    def forward(self, features: Sequence[Tensor]) -> Tensor:
        """Displacement field.

        Args:
            features (Sequence[Tensor]): 5 maps (B, C_i, h_i, w_i); the
                second (``layer1``) sets the output size (h4, w4), the third
                (``layer2``) the size at which the deep maps are fused.

        Returns:
            Tensor: (B, 2, h4, w4) displacements (dy, dx), minus
            ``mean_shift`` in eval mode.
        """
        maps = self.lateral_maps(features)
        size4 = tuple(maps[1].shape[-2:])
        size8 = tuple(maps[2].shape[-2:])
        shallow = [F.relu(m) for m in maps[:2]]
        deep = [F.relu(upsample_and_crop(m, size8)) for m in maps[2:]]
        deep = F.relu(
            upsample_and_crop(self.deep_fuse(torch.cat(deep, dim=1)), size4))
        fused = F.relu(self.fuse(torch.cat(shallow + [deep], dim=1)))
        displacement = self.conv_disp(fused)
        if not self.training:
            displacement = displacement - self.mean_shift.view(1, 2, 1, 1)
        return displacement
