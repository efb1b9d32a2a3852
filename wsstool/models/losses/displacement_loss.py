"""IRN displacement-field loss over pixel pairs."""
from typing import Dict

import torch
from torch import Tensor, nn

from wsstool.registry import MODELS

EPS = 1e-5


def pair_displacement_differences(displacement: Tensor, directions: Tensor,
                                  margin: int) -> Tensor:
    """D(i) - D(j) for every source pixel i and direction, j = i + d.

    Sources are the pixels of the crop rows [0, H - m), columns [m, W - m)
    (the region of :func:`affinity_pair_labels`), so every destination lies
    inside the map.

    Args:
        displacement (Tensor): (B, 2, H, W) displacement field (dy, dx).
        directions (Tensor): (D, 2) integer offsets (dy, dx), dy >= 0 and
            |dx|, dy <= m.
        margin (int): m.

    Returns:
        Tensor: (B, 2, D, H - m, W - 2m).
    """
    height = displacement.shape[-2] - margin
    width = displacement.shape[-1] - 2 * margin
    source = displacement[..., :height, margin:margin + width]
    destinations = torch.stack([
        displacement[..., dy:dy + height, margin + dx:margin + dx + width]
        for dy, dx in directions.tolist()
    ], dim=2)
    return source.unsqueeze(2) - destinations


@MODELS.register_module()
class DisplacementLoss(nn.Module):
    """IRN's displacement losses on positive pixel pairs.

    With a = D(i) - D(j) the displacement difference of the pair (i, j)
    and delta_ij = j - i its direction (dy, dx):

    * ``loss_dp_fg`` = w * sum_{P+fg} |a - delta_ij|_1 / (2 |P+fg| + 1e-5):
      pixels of one instance point to the same centroid;
    * ``loss_dp_bg`` = w * sum_{P+bg} |a|_1 / (2 |P+bg| + 1e-5): background
      displacements are uniform.

    The factor 2 in the denominator averages over the two components.
    IRN's total loss is (L_pos + L_neg) / 2 + (L_dp_fg + L_dp_bg) / 2;
    the default ``loss_weight=0.5`` gives the second half, so the sum of
    these two terms and of :class:`AffinityLoss`'s (the first half) equals
    it.

    Args:
        loss_weight (float): w, applied to both terms. Defaults to 0.5.
    """

    def __init__(self, loss_weight: float = 0.5) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, displacement: Tensor, bg_pos: Tensor, fg_pos: Tensor,
                directions: Tensor, margin: int) -> Dict[str, Tensor]:
        """Compute the weighted losses.

        Args:
            displacement (Tensor): (B, 2, H, W) predicted field (dy, dx).
            bg_pos (Tensor): (B, D, H - m, W - 2m) bool background pairs.
            fg_pos (Tensor): (B, D, H - m, W - 2m) bool same-class
                foreground pairs.
            directions (Tensor): (D, 2) pair offsets (dy, dx), the
                ``directions`` of the :class:`PathIndex` that gave the pair
                labels.
            margin (int): m, that path index's ``margin``.

        Returns:
            dict[str, Tensor]: scalar ``loss_dp_fg`` and ``loss_dp_bg``.
        """
        batch, channels, height, width = displacement.shape
        expected = (batch, len(directions), height - margin,
                    width - 2 * margin)
        if channels != 2 or tuple(bg_pos.shape) != expected or tuple(
                fg_pos.shape) != expected:
            raise ValueError(
                f'{type(self).__name__}: displacement (B, 2, H, W) = '
                f'{tuple(displacement.shape)} with {len(directions)} '
                f'directions and margin {margin} needs bg_pos and fg_pos of '
                f'shape {expected}, got {tuple(bg_pos.shape)} and '
                f'{tuple(fg_pos.shape)}.')
        difference = pair_displacement_differences(displacement, directions,
                                                   margin)
        offsets = directions.t().to(difference).view(1, 2, -1, 1, 1)
        fg_error = (difference - offsets).abs().sum(dim=1)
        bg_error = difference.abs().sum(dim=1)
        return dict(
            loss_dp_fg=self.loss_weight * self._pair_mean(fg_error, fg_pos),
            loss_dp_bg=self.loss_weight * self._pair_mean(bg_error, bg_pos))

    @staticmethod
    def _pair_mean(error: Tensor, pairs: Tensor) -> Tensor:
        """Sum of the (B, D, h, w) L1 ``error`` over ``pairs``, divided by
        2 * (number of pairs) + 1e-5."""
        pairs = pairs.to(error.dtype)
        return (error * pairs).sum() / (2 * pairs.sum() + EPS)
