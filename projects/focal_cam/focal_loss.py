"""Example out-of-tree plugin (docs/add_plugin.md): a focal multi-label
classification loss for the CAM baseline, registered from outside
``wsstool/`` and loaded with ``custom_imports``."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from wsstool.registry import MODELS


@MODELS.register_module()
class MultiLabelFocalLoss(nn.Module):
    """Focal binary cross-entropy averaged over classes and images.

    Args:
        gamma: Focusing parameter; 0 gives plain binary cross-entropy.
        loss_weight: Weight of the loss.
    """

    def __init__(self, gamma: float = 2.0, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.gamma = gamma
        self.loss_weight = loss_weight

    def forward(self, logits: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:
        """Loss of logits (B, C) against multi-hot labels (B, C)."""
        bce = F.binary_cross_entropy_with_logits(
            logits, labels, reduction='none')
        p_true = torch.exp(-bce)
        return self.loss_weight * ((1 - p_true)**self.gamma * bce).mean()
