"""L1 alignment of the class-wise global average of two activation maps."""
import torch.nn.functional as F
from torch import Tensor, nn

from wsstool.registry import MODELS


@MODELS.register_module()
class GAPAlignmentLoss(nn.Module):
    """``loss_weight * L1(GAP(relu(maps)) * y, GAP(relu(erased_maps)) * y)``.

    The L1 distance is averaged over the (B, C) entries, absent classes
    included (they contribute 0). Uses:

    * AEFT attraction: ``maps``/``erased_maps`` are the GPP maps of the image
      and of its soft-erased copy, ``loss_weight=0.2``.
    * KTSE MGA global alignment: the raw CAMs of the image and of its erased
      copy, ``loss_weight=1.0``.

    Both references let the gradient reach both branches. With
    ``detach_target`` the un-erased ``maps`` act as a fixed target, so only
    the erased branch is pulled towards them.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        detach_target (bool): Stop the gradient through ``maps``.
            Defaults to False.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 detach_target: bool = False) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.detach_target = detach_target

    def forward(self, maps: Tensor, erased_maps: Tensor,
                labels: Tensor) -> Tensor:
        """Compute the weighted loss.

        Args:
            maps (Tensor): (B, C, h, w) maps of the original images.
            erased_maps (Tensor): (B, C, h', w') maps of the erased images.
            labels (Tensor): (B, C) multi-hot image labels.

        Returns:
            Tensor: scalar loss.
        """
        if maps.dim() != 4 or erased_maps.dim() != 4 \
                or maps.shape[:2] != erased_maps.shape[:2] \
                or maps.shape[:2] != labels.shape:
            raise ValueError(
                f'{type(self).__name__}: expected maps (B, C, h, w), '
                f'erased_maps (B, C, h\', w\') and labels (B, C); got '
                f'{tuple(maps.shape)}, {tuple(erased_maps.shape)} and '
                f'{tuple(labels.shape)}.')
        if self.detach_target:
            maps = maps.detach()
        target = F.relu(maps).mean(dim=(2, 3)) * labels
        erased = F.relu(erased_maps).mean(dim=(2, 3)) * labels
        return self.loss_weight * F.l1_loss(erased, target)
