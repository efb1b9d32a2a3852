"""Margin hinge that keeps one activation map at least as high as another."""
from typing import Optional

import torch.nn.functional as F
from torch import Tensor, nn

from wsstool.registry import MODELS


@MODELS.register_module()
class ActivationHingeLoss(nn.Module):
    """Penalise ``source`` where it falls below a (scaled) ``target``.

    ``loss_weight * mean_{b,c,h,w}[relu(scale * target * m - source * m
    - margin) * y_c]`` where ``m`` is an optional (B, 1, h, w) mask (1 when
    None) and the mean runs over all B * C * h * w entries, absent classes
    included (they contribute 0).

    Uses (``target`` / ``source``):

    * KTSE MGA local alignment: ``target`` = raw CAM of the erased image,
      ``source`` = raw CAM of the image, ``mask`` = the non-discriminative
      region ``[fg-CAM < 0.6]``, at feature resolution, ``scale=1.0``. The
      KTSE+ reading works at image resolution with ``scale=1.3``.
    * KTSE knowledge transfer L_kt: ``target`` = the single-image CAMs
      stacked like the composed image (the reference), ``source`` = CAM of
      the composed image, ``labels`` = the union of both images' labels, no
      mask. The KTSE+ reading passes rectified CAMs upsampled to the
      composed image (the model rectifies before upsampling, as that code).

    Both references let the gradient reach both maps. ``detach_reference``
    stops the gradient through ``target``.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        margin (float): Tolerated shortfall of ``source``. Defaults to 0.05.
        scale (float): Factor applied to ``target``. Defaults to 1.0.
        detach_reference (bool): Stop the gradient through ``target``.
            Defaults to False.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 margin: float = 0.05,
                 scale: float = 1.0,
                 detach_reference: bool = False) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.margin = margin
        self.scale = scale
        self.detach_reference = detach_reference

    def forward(self,
                target: Tensor,
                source: Tensor,
                labels: Tensor,
                mask: Optional[Tensor] = None) -> Tensor:
        """Compute the weighted loss.

        Args:
            target (Tensor): (B, C, h, w) maps ``source`` should reach.
            source (Tensor): (B, C, h, w) maps that are pushed up.
            labels (Tensor): (B, C) multi-hot image labels.
            mask (Tensor, optional): (B, 1, h, w) region where the hinge
                applies; 1 everywhere when None.

        Returns:
            Tensor: scalar loss.
        """
        if target.dim() != 4 or target.shape != source.shape \
                or target.shape[:2] != labels.shape:
            raise ValueError(
                f'{type(self).__name__}: expected target and source '
                f'(B, C, h, w) of equal shape and labels (B, C); got '
                f'{tuple(target.shape)}, {tuple(source.shape)} and '
                f'{tuple(labels.shape)}.')
        if self.detach_reference:
            target = target.detach()
        if mask is not None:
            expected = (target.shape[0], 1, *target.shape[2:])
            if tuple(mask.shape) != expected:
                raise ValueError(
                    f'{type(self).__name__}: mask must have shape '
                    f'{expected}, got {tuple(mask.shape)}.')
            target, source = target * mask, source * mask
        shortfall = F.relu(self.scale * target - source - self.margin)
        return self.loss_weight * (shortfall * labels[:, :, None, None]).mean()
