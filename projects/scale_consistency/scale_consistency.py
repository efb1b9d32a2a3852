"""Example auxiliary loss of docs/add_plugin.md: scale consistency of the
CAMs of any CAM method."""
from typing import Dict, Optional, Tuple

import torch.nn.functional as F
from torch import Tensor, nn

from wsstool.models.utils import normalize_cam
from wsstool.models.utils.contrast_view import ContrastView
from wsstool.registry import MODELS


@MODELS.register_module()
class ScaleConsistencyLoss(nn.Module):
    """Mean |mn(cam1) - mn(cam2)| over the labelled classes: the CAMs of the
    batch (resized to view 2's grid) against those of view 2 (the batch
    scaled by ``scale``); mn = ``minmax_train`` normalisation."""

    def __init__(self, scale: float = 0.5, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.scale, self.loss_weight = scale, loss_weight

    def forward(
        self, model: nn.Module, inputs: Tensor, labels: Tensor,
        views: Tuple[Optional[ContrastView], Optional[ContrastView]]
    ) -> Dict[str, Tensor]:
        """(B, 3, H, W) images, (B, C) labels, the host's views -> terms."""
        view1, view2 = views
        if view1 is None:
            view1 = model.contrast_view(inputs)
        if view2 is None:
            view2 = model.contrast_view(F.interpolate(
                inputs, scale_factor=self.scale, mode='bilinear'))
        cam2 = normalize_cam(view2.cam, 'minmax_train')    # (B, C, h2, w2)
        cam1 = F.interpolate(normalize_cam(view1.cam, 'minmax_train'),
                             size=cam2.shape[-2:], mode='bilinear')
        diff = (cam1 - cam2).abs() * labels[:, :, None, None]
        return dict(loss_scale=self.loss_weight * diff.mean())
