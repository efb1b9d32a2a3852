"""Decoder that reconstructs the image from its class activation maps
(SSC's spatial structure constraint)."""
from typing import Optional, Sequence, Union

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from wsstool.registry import MODELS


class SampleLayerNorm(nn.Module):
    """Layer normalisation over (C, H, W) of each sample with a per-channel
    affine transform, as in MUNIT-style decoders.

    ``y = (x - mean) / (std + eps) * weight[c] + bias[c]`` where ``mean``
    and the unbiased ``std`` are taken over all C x H x W values of the
    sample (note ``eps`` is added to the standard deviation). ``weight``
    starts uniform in [0, 1), ``bias`` at 0. Statistics are computed in
    float32.

    Args:
        num_channels (int): C.
        eps (float): Added to the standard deviation. Defaults to 1e-5.
    """

    def __init__(self, num_channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.rand(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        x32 = x.float()
        mean = x32.mean(dim=(1, 2, 3), keepdim=True)
        std = x32.flatten(1).std(dim=1)[:, None, None, None]
        normed = ((x32 - mean) / (std + self.eps)).to(x.dtype)
        return normed * self.weight[:, None, None] + self.bias[:, None, None]

    def extra_repr(self) -> str:
        return f'{self.weight.numel()}, eps={self.eps}'


class ConvLNReLU(nn.Sequential):
    """3x3 conv (stride 1, padding 1) + :class:`SampleLayerNorm` (+ ReLU).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        padding_mode (str): ``'zeros'`` or ``'reflect'``.
        bias (bool): Conv bias. Defaults to True.
        relu (bool): End with a ReLU. Defaults to True.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 padding_mode: str = 'zeros',
                 bias: bool = True,
                 relu: bool = True) -> None:
        layers = [
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=bias,
                      padding_mode=padding_mode),
            SampleLayerNorm(out_channels)
        ]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class LNResidualBlock(nn.Module):
    """``x + LN(conv(ReLU(LN(conv(x)))))`` with 3x3 zero-padded convs.

    Args:
        channels (int): Input and output channels.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvLNReLU(channels, channels),
            ConvLNReLU(channels, channels, relu=False))

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        return x + self.body(x)


class UpsampleBlock(nn.Sequential):
    """x2 upsampling: ConvTranspose 4x4 stride 2 (no bias, ``in -> in``) +
    InstanceNorm + ReLU + :class:`ConvLNReLU` (``in -> out``).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.ConvTranspose2d(in_channels, in_channels, 4, stride=2,
                               padding=1, bias=False),
            nn.InstanceNorm2d(in_channels), nn.ReLU(inplace=True),
            ConvLNReLU(in_channels, out_channels))


@MODELS.register_module()
class CAMReconstructionDecoder(BaseModule):
    """Reconstruct an image from class activation maps (SSC decoder).

    ``stem``: 3x3 conv ``in_channels -> channels[0]`` (reflect padding, no
    bias) + :class:`SampleLayerNorm` + ReLU; ``num_res_blocks``
    :class:`LNResidualBlock`; one :class:`UpsampleBlock` per consecutive
    pair of ``channels`` (each doubles the size); 3x3 conv
    ``channels[-1] -> out_channels`` + tanh. SSC on VOC: 20 classes,
    ``channels=(256, 256, 128, 64, 32)``, i.e. x16 upsampling, so the
    stride-16 CAMs of a 512 crop give a 512 x 512 image.

    Args:
        in_channels (int): Channels of the class maps (the classes C).
        channels (Sequence[int]): Widths of the stem and of each upsampling
            block's output; ``len(channels) - 1`` upsamplings.
            Defaults to ``(256, 256, 128, 64, 32)``.
        num_res_blocks (int): Residual blocks after the stem. Defaults to 1.
        out_channels (int): Channels of the reconstruction. Defaults to 3.
        init_cfg (dict or list[dict], optional): mmengine init config;
            None keeps PyTorch's default initialisation (as the reference).
    """

    def __init__(self,
                 in_channels: int,
                 channels: Sequence[int] = (256, 256, 128, 64, 32),
                 num_res_blocks: int = 1,
                 out_channels: int = 3,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        channels = tuple(channels)
        if not channels or any(
                not isinstance(c, int) or c <= 0 for c in channels):
            raise ValueError(f'{type(self).__name__} channels={channels}: '
                             'expected a non-empty sequence of positive '
                             'integers.')
        self.in_channels = in_channels
        self.upsample_factor = 2**(len(channels) - 1)
        self.stem = ConvLNReLU(
            in_channels, channels[0], padding_mode='reflect', bias=False)
        self.res_blocks = nn.Sequential(
            *[LNResidualBlock(channels[0]) for _ in range(num_res_blocks)])
        self.upsample = nn.Sequential(*[
            UpsampleBlock(c_in, c_out)
            for c_in, c_out in zip(channels[:-1], channels[1:])
        ])
        self.out_conv = nn.Conv2d(channels[-1], out_channels, 3, padding=1)

    def forward(self, cam: Tensor) -> Tensor:
        """Reconstruct images from class maps.

        Args:
            cam (Tensor): (B, in_channels, h, w) raw class maps.

        Returns:
            Tensor: (B, out_channels, h * f, w * f) in (-1, 1), f =
            ``upsample_factor``.
        """
        if cam.dim() != 4 or cam.shape[1] != self.in_channels:
            raise ValueError(
                f'{type(self).__name__} expects (B, {self.in_channels}, h, '
                f'w) class maps, got {tuple(cam.shape)}.')
        x = self.upsample(self.res_blocks(self.stem(cam)))
        return torch.tanh(self.out_conv(x))
