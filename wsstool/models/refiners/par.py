"""Pixel-adaptive refinement (PAR) of masks with local image affinities.

PAR (AFA, ToCo, used online by KTSE) propagates masks between each pixel and
its 8 neighbours at several dilations d, i.e. the offsets (-d, -d), (-d, 0),
(-d, d), (0, -d), (0, d), (d, -d), (d, 0), (d, d) in this order, with
replicate padding at the image border. For N = 8 * len(dilations) neighbours
j of a pixel i:

* appearance: ``a_ij = -mean_c (|I_c(i) - I_c(j)| / (s_c(i) + 1e-8) /
  appearance_scale) ** 2`` with ``s_c(i)`` the standard deviation (unbiased,
  as ``torch.std``) of the N neighbour values of channel c around i;
* position: ``p_j = -(r_j / (s_r + 1e-8) / position_scale) ** 2`` with
  ``r_j`` = d for axial and sqrt(2) * d for diagonal neighbours and ``s_r``
  their standard deviation (unbiased) over the N neighbours;
* ``aff_ij = softmax_j(a_ij) + position_weight * softmax_j(p_j)`` (rows sum
  to 1 + position_weight);
* ``num_iter`` times: ``M(i) <- sum_j aff_ij * M(j)``.
"""
import math
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from wsstool.registry import REFINERS

EPS = 1e-8
# (dy, dx) of the 8 neighbours in units of the dilation, row-major order
_UNIT_OFFSETS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0),
                 (1, 1))


def dilated_neighbors(x: Tensor, dilations: Sequence[int]) -> Tensor:
    """Values of the 8 neighbours of every pixel at each dilation.

    Args:
        x (Tensor): (B, C, H, W).
        dilations (Sequence[int]): Neighbour distances d.

    Returns:
        Tensor: (B, C, 8 * len(dilations), H, W); neighbour n = 8 * k + m is
        at ``dilations[k] * _UNIT_OFFSETS[m]``, outside pixels replicate the
        nearest border pixel.
    """
    height, width = x.shape[-2:]
    pad = max(dilations)
    padded = F.pad(x, [pad] * 4, mode='replicate')
    return torch.stack([
        padded[..., pad + d * dy:pad + d * dy + height,
               pad + d * dx:pad + d * dx + width] for d in dilations
        for dy, dx in _UNIT_OFFSETS
    ], dim=2)


@REFINERS.register_module()
class PAR(nn.Module):
    """Pixel-adaptive refinement of masks (see the module docstring).

    The module has no parameters and no buffers; its constants are built on
    the input's device.

    Args:
        dilations (Sequence[int]): Neighbour distances.
            Defaults to (1, 2, 4, 8, 12, 24).
        num_iter (int): Propagation steps. Defaults to 10.
        appearance_scale (float): Temperature of the appearance kernel.
            Defaults to 0.3.
        position_scale (float): Temperature of the position kernel.
            Defaults to 0.3.
        position_weight (float): Weight of the position kernel.
            Defaults to 0.01.
    """

    def __init__(self,
                 dilations: Sequence[int] = (1, 2, 4, 8, 12, 24),
                 num_iter: int = 10,
                 appearance_scale: float = 0.3,
                 position_scale: float = 0.3,
                 position_weight: float = 0.01) -> None:
        super().__init__()
        if not dilations or not all(
                isinstance(d, int) and d > 0 for d in dilations):
            raise ValueError('PAR dilations must be positive ints, got '
                             f'{dilations!r}')
        if not isinstance(num_iter, int) or num_iter < 0:
            raise ValueError(
                f'PAR num_iter must be an int >= 0, got {num_iter!r}')
        for name, value in (('appearance_scale', appearance_scale),
                            ('position_scale', position_scale)):
            if value <= 0:
                raise ValueError(f'PAR {name} must be > 0, got {value!r}')
        if position_weight < 0:
            raise ValueError(
                f'PAR position_weight must be >= 0, got {position_weight!r}')
        self.dilations = tuple(dilations)
        self.num_iter = num_iter
        self.appearance_scale = appearance_scale
        self.position_scale = position_scale
        self.position_weight = position_weight

    def affinity(self, images: Tensor) -> Tensor:
        """Row-stochastic (up to ``position_weight``) affinities.

        Args:
            images (Tensor): (B, 3, H, W) images in [0, 1].

        Returns:
            Tensor: (B, N, H, W), N = 8 * len(dilations); the N weights of a
            pixel sum to 1 + position_weight.
        """
        neighbors = dilated_neighbors(images, self.dilations)
        spread = neighbors.std(dim=2, keepdim=True)
        appearance = -((neighbors - images.unsqueeze(2)).abs() /
                       (spread + EPS) / self.appearance_scale)**2
        appearance = appearance.mean(dim=1).softmax(dim=1)
        return appearance + self.position_weight * self._position_kernel(
            images)[None, :, None, None]

    def _position_kernel(self, images: Tensor) -> Tensor:
        """(N,) softmax of the position term over the neighbours."""
        distances = torch.tensor(
            [d * math.hypot(dy, dx) for d in self.dilations
             for dy, dx in _UNIT_OFFSETS],
            dtype=images.dtype, device=images.device)
        return (-(distances / (distances.std() + EPS) /
                  self.position_scale)**2).softmax(dim=0)

    def forward(self, images: Tensor, masks: Tensor) -> Tensor:
        """Refine ``masks`` along the edges of ``images``.

        Args:
            images (Tensor): (B, 3, H, W) images in [0, 1].
            masks (Tensor): (B, K, H, W) maps to refine (e.g. probabilities).

        Returns:
            Tensor: (B, K, H, W) refined maps.
        """
        if images.dim() != 4 or masks.dim() != 4 or (
                images.shape[0] != masks.shape[0]
                or images.shape[-2:] != masks.shape[-2:]):
            raise ValueError(
                f'PAR got images of shape {tuple(images.shape)} and masks of '
                f'shape {tuple(masks.shape)}; expected (B, 3, H, W) and '
                '(B, K, H, W) with the same B, H and W')
        aff = self.affinity(images.float()).to(masks.dtype).unsqueeze(1)
        for _ in range(self.num_iter):
            masks = (dilated_neighbors(masks, self.dilations) * aff).sum(2)
        return masks

    def extra_repr(self) -> str:
        return (f'dilations={self.dilations}, num_iter={self.num_iter}, '
                f'appearance_scale={self.appearance_scale}, '
                f'position_scale={self.position_scale}, '
                f'position_weight={self.position_weight}')
