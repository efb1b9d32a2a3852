"""Inter-pixel affinity loss of IRN and AffinityNet (PSA)."""
from typing import Dict

import torch
from torch import Tensor, nn

from wsstool.registry import MODELS

EPS = 1e-5


def _pair_mean(pair_losses: Tensor) -> Tensor:
    """Sum of the (P,) losses of P pairs / (P + 1e-5); 0 without pairs."""
    return pair_losses.sum() / (pair_losses.numel() + EPS)


@MODELS.register_module()
class AffinityLoss(nn.Module):
    """Cross-entropy of predicted affinities against pair labels.

    ``L = L_bg / 4 + L_fg / 4 + L_neg / 2`` with
    ``L_bg = mean over bg_pos of -log(a + 1e-5)``,
    ``L_fg = mean over fg_pos of -log(a + 1e-5)`` and
    ``L_neg = mean over neg of -log(1 + 1e-5 - a)``, each mean being the
    sum over the pairs / (pair count + 1e-5). This is AffinityNet's loss and
    IRN's ``(L_pos + L_neg) / 2`` with ``L_pos = (L_bg + L_fg) / 2``.

    Args:
        loss_weight (float): Multiplier of all three terms. Defaults to 1.0.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, affinity: Tensor, bg_pos: Tensor, fg_pos: Tensor,
                neg: Tensor) -> Dict[str, Tensor]:
        """Compute the weighted loss terms.

        Args:
            affinity (Tensor): (B, D, h, w) affinities in [0, 1].
            bg_pos (Tensor): (B, D, h, w) bool, background-background pairs.
            fg_pos (Tensor): (B, D, h, w) bool, same-foreground pairs.
            neg (Tensor): (B, D, h, w) bool, pairs of different labels.

        Returns:
            dict[str, Tensor]: scalar ``loss_aff_bg`` (L_bg / 4),
            ``loss_aff_fg`` (L_fg / 4) and ``loss_aff_neg`` (L_neg / 2),
            each times ``loss_weight``.
        """
        for name, pairs in (('bg_pos', bg_pos), ('fg_pos', fg_pos),
                            ('neg', neg)):
            if pairs.shape != affinity.shape:
                raise ValueError(
                    f'{type(self).__name__}: {name} {tuple(pairs.shape)} '
                    f'must have the shape of affinity '
                    f'{tuple(affinity.shape)}.')
            if pairs.dtype != torch.bool:
                raise TypeError(f'{type(self).__name__}: {name} must be a '
                                f'bool mask, got {pairs.dtype}.')
        bg_loss = _pair_mean(-torch.log(affinity[bg_pos] + EPS))
        fg_loss = _pair_mean(-torch.log(affinity[fg_pos] + EPS))
        neg_loss = _pair_mean(-torch.log(1 + EPS - affinity[neg]))
        return dict(
            loss_aff_bg=self.loss_weight / 4 * bg_loss,
            loss_aff_fg=self.loss_weight / 4 * fg_loss,
            loss_aff_neg=self.loss_weight / 2 * neg_loss)
