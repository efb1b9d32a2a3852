"""SEAM's pixel correlation module (PCM): class maps refined by the
feature affinities of their own image."""
from typing import List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from wsstool.registry import MODELS
from .affinity_head import PSA_EMBEDDING_INIT_CFG
from ..utils.cam_ops import top_class_map
from ..utils.views import resize_corners

EPS = 1e-5


def pcm_seed_map(scores: Tensor) -> Tensor:
    """The map the PCM propagates, from raw classifier scores (no gradient).

    Every channel is rectified and divided by its spatial maximum
    (``relu(x - 1e-5) / (max x + 1e-5)`` after ``x = relu(x)``); then the
    background channel is replaced and the foreground reduced to the top
    class by :func:`top_class_map`.

    Args:
        scores (Tensor): (B, 1 + C, h, w) classifier scores, background at
            channel 0.

    Returns:
        Tensor: (B, 1 + C, h, w) map in [0, 1], detached.
    """
    with torch.no_grad():
        scores = F.relu(scores.detach())
        peak = scores.amax(dim=(2, 3), keepdim=True) + EPS
        return top_class_map((F.relu(scores - EPS) / peak)[:, 1:])


def propagate(maps: Tensor, affinity: Tensor) -> Tensor:
    """``out(j) = sum_i maps(i) * affinity(i, j)`` over the N = h * w
    positions.

    Args:
        maps (Tensor): (B, K, h, w) maps.
        affinity (Tensor): (B, N, N) affinities, source position first.

    Returns:
        Tensor: (B, K, h, w).
    """
    batch, channels, height, width = maps.shape
    out = torch.bmm(maps.reshape(batch, channels, -1), affinity)
    return out.reshape(batch, channels, height, width)


@MODELS.register_module()
class PixelCorrelationModule(BaseModule):
    """Pixel correlation module (PCM) of SEAM.

    Per image of a batch of B, on its (h, w) feature grid (N = h * w):

    * features: ``concat[image resized to (h, w) (bilinear, align_corners),
      relu(f8_3(x_a)), relu(f8_4(x_b))]`` -> ``f9`` (1x1) -> per-pixel L2
      normalisation (``f / (|f| + 1e-5)``), where ``x_a``, ``x_b`` are the
      backbone features at ``in_index`` (ResNet-38d: conv4 512 ch, conv5
      1024 ch), detached by default;
    * affinity ``A = relu(F^T F)`` (N, N), divided by its column sums
      (``A_ij / (sum_i A_ij + 1e-5)``);
    * output ``out(j) = sum_i seed(i) * A_ij`` with ``seed`` =
      :func:`pcm_seed_map` of the classifier scores (no gradient): the
      gradient of the output reaches ``f8_3``, ``f8_4`` and ``f9`` through
      the affinity only.

    The affinity and propagation run in float32 (also under autocast).
    Module names equal SEAM's ``resnet38_SEAM.Net``; the default
    ``init_cfg`` is SEAM's: Kaiming normal (fan-in, gain sqrt(2)) for
    ``f8_3``/``f8_4``, Xavier uniform with gain 4 for ``f9``.

    Args:
        in_channels (Sequence[int]): Channels of the two backbone features.
            Defaults to (512, 1024).
        mid_channels (Sequence[int]): Output channels of ``f8_3`` and
            ``f8_4``. Defaults to (64, 128).
        out_channels (int): Output channels of ``f9``. Defaults to 192.
        image_channels (int): Channels of the input image. Defaults to 3.
        in_index (Sequence[int]): Which backbone outputs feed ``f8_3`` and
            ``f8_4``. Defaults to (0, 1).
        detach_feats (bool): Stop the gradient into the backbone, as SEAM.
            Defaults to True.
        init_cfg (dict or list[dict], optional): mmengine init config.
    """

    def __init__(self,
                 in_channels: Sequence[int] = (512, 1024),
                 mid_channels: Sequence[int] = (64, 128),
                 out_channels: int = 192,
                 image_channels: int = 3,
                 in_index: Sequence[int] = (0, 1),
                 detach_feats: bool = True,
                 init_cfg: Optional[Union[dict, List[dict]]] = (
                     PSA_EMBEDDING_INIT_CFG)
                 ) -> None:
        super().__init__(init_cfg=init_cfg)
        for name, value in (('in_channels', in_channels),
                            ('mid_channels', mid_channels),
                            ('in_index', in_index)):
            if len(value) != 2 or any(
                    not isinstance(c, int) or isinstance(c, bool)
                    for c in value):
                raise ValueError(
                    f'PixelCorrelationModule {name}={tuple(value)}: '
                    'expected two integers, for f8_3 and f8_4.')
        self.in_channels = tuple(in_channels)
        self.mid_channels = tuple(mid_channels)
        self.out_channels = out_channels
        self.in_index = tuple(in_index)
        self.detach_feats = detach_feats
        self.f8_3 = nn.Conv2d(in_channels[0], mid_channels[0], 1, bias=False)
        self.f8_4 = nn.Conv2d(in_channels[1], mid_channels[1], 1, bias=False)
        self.f9 = nn.Conv2d(image_channels + sum(mid_channels), out_channels,
                            1, bias=False)

    def embed(self, feats: Sequence[Tensor], images: Tensor) -> Tensor:
        """Per-pixel L2-normalised features (B, out_channels, h, w) of the
        backbone outputs (``in_index``: (B, in_channels[k], h, w)) and the
        (B, image_channels, H, W) images."""
        feat_a, feat_b = (feats[i] for i in self.in_index)
        if feat_a.shape[-2:] != feat_b.shape[-2:]:
            raise ValueError(
                'PixelCorrelationModule: the two backbone features must '
                f'share one grid, got {tuple(feat_a.shape)} and '
                f'{tuple(feat_b.shape)} (in_index={self.in_index}).')
        if self.detach_feats:
            feat_a, feat_b = feat_a.detach(), feat_b.detach()
        small = resize_corners(images, feat_a.shape[-2:])
        f = self.f9(
            torch.cat([small, F.relu(self.f8_3(feat_a)),
                       F.relu(self.f8_4(feat_b))], dim=1))
        return f / (f.norm(dim=1, keepdim=True) + EPS)

    @staticmethod
    def affinity(embedding: Tensor) -> Tensor:
        """Column-normalised affinities (B, N, N) of a (B, D, h, w)
        embedding, in float32: ``relu(F^T F)`` over its N = h * w
        positions, each column divided by its sum + 1e-5."""
        f = embedding.flatten(2).float()
        with torch.autocast(device_type=f.device.type, enabled=False):
            aff = F.relu(torch.bmm(f.transpose(1, 2), f))
            return aff / (aff.sum(dim=1, keepdim=True) + EPS)

    def forward(self, scores: Tensor, feats: Sequence[Tensor],
                images: Tensor) -> Tensor:
        """Refine classifier scores.

        Args:
            scores (Tensor): (B, 1 + C, h, w) raw classifier scores,
                background at channel 0.
            feats (Sequence[Tensor]): Backbone outputs; those at
                ``in_index`` are (B, in_channels[k], h, w).
            images (Tensor): (B, image_channels, H, W) network input.

        Returns:
            Tensor: (B, 1 + C, h, w) float32 refined maps (values in [0, 1]).
        """
        embedding = self.embed(feats, images)
        if embedding.shape[-2:] != scores.shape[-2:]:
            raise ValueError(
                'PixelCorrelationModule: scores and backbone features must '
                f'share one grid, got {tuple(scores.shape)} and '
                f'{tuple(embedding.shape)}.')
        seed = pcm_seed_map(scores).float()
        aff = self.affinity(embedding)
        with torch.autocast(device_type=aff.device.type, enabled=False):
            return propagate(seed, aff)
