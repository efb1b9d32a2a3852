"""Multilabel soft-margin loss for image-level classification."""
import torch.nn.functional as F
from torch import Tensor, nn

from wsstool.registry import MODELS


@MODELS.register_module()
class MultiLabelSoftMarginLoss(nn.Module):
    """Multilabel soft-margin loss (MLSM), mean over classes and batch.

    ``-(y log sigmoid(x) + (1 - y) log sigmoid(-x))`` averaged over the C
    classes and the B images, times ``loss_weight``; equal to
    ``torch.nn.functional.multilabel_soft_margin_loss``.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        """Compute the weighted loss.

        Args:
            logits (Tensor): (B, C) class scores.
            labels (Tensor): (B, C) multi-hot (or soft) targets in [0, 1].

        Returns:
            Tensor: scalar loss.
        """
        if logits.shape != labels.shape:
            raise ValueError(
                f'{type(self).__name__}: logits {tuple(logits.shape)} and '
                f'labels {tuple(labels.shape)} must have the same (B, C) '
                'shape.')
        per_class = -(labels * F.logsigmoid(logits) +
                      (1 - labels) * F.logsigmoid(-logits))
        return self.loss_weight * per_class.mean()
