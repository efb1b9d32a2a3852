"""Gated Pyramid Pooling (GPP) of AEFT, also used by KTSE."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from wsstool.registry import MODELS
from .global_avg_pool import check_class_maps


def _gate(in_channels: int) -> nn.Sequential:
    """3x3 conv (no bias) to two sigmoid gate maps; keys ``0.weight``."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 2, 3, padding=1, bias=False), nn.Sigmoid())


@MODELS.register_module()
class GatedFusion(nn.Module):
    """Fuse two class-map grids with sign-separated spatial gates.

    With ``P = sigmoid(att_p([relu(x), relu(y)]))`` and
    ``N = sigmoid(att_n([relu(-x), relu(-y)]))``, two (B, 2, h, w) gates
    shared by all classes::

        G(x, y) = (relu(x) P0 + relu(y) P1) / 2
                - (relu(-x) N0 + relu(-y) N1) / 2

    so positive and negative evidence are gated separately and the sign of
    the inputs is preserved.

    Args:
        num_classes (int): Channels C of each input.
    """

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.att_p = _gate(2 * num_classes)
        self.att_n = _gate(2 * num_classes)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """Fuse two (B, C, h, w) maps into one (B, C, h, w) map."""
        x_pos, y_pos = F.relu(x), F.relu(y)
        x_neg, y_neg = F.relu(-x), F.relu(-y)
        pos = self.att_p(torch.cat([x_pos, y_pos], dim=1))
        neg = self.att_n(torch.cat([x_neg, y_neg], dim=1))
        return (x_pos * pos[:, :1] + y_pos * pos[:, 1:]) / 2 - (
            x_neg * neg[:, :1] + y_neg * neg[:, 1:]) / 2


@MODELS.register_module()
class GatedPyramidPool(BaseModule):
    """Gated Pyramid Pooling: class logits from multi-grid average pooling.

    For each grid size k the class maps are average-pooled to k x k and
    bilinearly upsampled back (``align_corners=False``), giving ``g_k``. The
    grids are fused coarse to fine by :class:`GatedFusion` modules
    ``gconv1``, ``gconv2``, ...: ``a1 = gconv1(g_2, g_4)``,
    ``a2 = gconv2(a1, g_8)``, ``gpp = gconv3(a2, g_16)`` for the default
    pyramid. Logits keep the sign of the evidence::

        s = GAP(relu(cam) * relu(gpp)) - GAP(relu(-cam) * relu(-gpp))

    Module names match the AEFT/KTSE ``Net_gpp`` state dicts
    (``gconv{i}.att_p.0.weight``, ``gconv{i}.att_n.0.weight``, each
    (2, 2C, 3, 3)).

    Args:
        num_classes (int): Channels C of the class maps. Defaults to 20.
        grid_sizes (Sequence[int]): Pooling grids, fused in this order; at
            least two positive sizes. Defaults to (2, 4, 8, 16) (AEFT).
        init_cfg (dict, optional): mmengine init config. Defaults to None
            (PyTorch's default init, as the references).
    """

    def __init__(self,
                 num_classes: int = 20,
                 grid_sizes: Sequence[int] = (2, 4, 8, 16),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not (isinstance(num_classes, int) and num_classes > 0):
            raise ValueError('GatedPyramidPool num_classes must be a positive '
                             f'integer, got {num_classes!r}.')
        if len(grid_sizes) < 2 or any(
                not isinstance(k, int) or isinstance(k, bool) or k < 1
                for k in grid_sizes):
            raise ValueError(
                f'GatedPyramidPool grid_sizes={tuple(grid_sizes)!r}: expected '
                'at least two positive integer grid sizes, e.g. '
                '(2, 4, 8, 16).')
        self.num_classes = num_classes
        self.grid_sizes = tuple(grid_sizes)
        for index in range(1, len(self.grid_sizes)):
            self.add_module(f'gconv{index}', GatedFusion(num_classes))

    def pyramid(self, cam: Tensor) -> Tensor:
        """The fused pyramid map ``gpp`` (B, C, h, w) of (B, C, h, w) maps."""
        size = cam.shape[-2:]
        grids = [
            F.interpolate(
                F.adaptive_avg_pool2d(cam, k),
                size=size,
                mode='bilinear',
                align_corners=False) for k in self.grid_sizes
        ]
        fused = grids[0]
        for index, grid in enumerate(grids[1:], start=1):
            fused = getattr(self, f'gconv{index}')(fused, grid)
        return fused

    def forward(self, cam: Tensor) -> Tuple[Tensor, Tensor]:
        """Pool (B, C, h, w) raw class maps.

        Returns:
            tuple[Tensor, Tensor]: logits (B, C) and the GPP map
            (B, C, h, w).
        """
        check_class_maps(cam, self.num_classes, type(self).__name__)
        gpp = self.pyramid(cam)
        logits = (F.relu(cam) * F.relu(gpp)).mean(dim=(2, 3)) - (
            F.relu(-cam) * F.relu(-gpp)).mean(dim=(2, 3))
        return logits, gpp
