"""Soft CAM-weighted erasing (AEFT)."""
from torch import Tensor

from wsstool.registry import ERASERS
from .base import ErasingInputs, ThresholdEraser


@ERASERS.register_module()
class SoftCAMEraser(ThresholdEraser):
    """Erase the confident foreground and scale the rest by its CAM.

    ``erased = images * ([fg_cam < threshold] * fg_cam)``: pixels with
    ``fg_cam >= threshold`` become 0 (the mean colour) and every other pixel
    is scaled by its own foreground CAM, so the background (CAM near 0) is
    dimmed towards the mean colour as well, as in AEFT.

    Gradients flow into ``fg_cam`` through the weights (AEFT does not detach
    them); pass a detached ``fg_cam`` to erase without them.

    Args:
        threshold (float): Foreground CAM value from which a pixel is
            erased, in (0, 1]. Defaults to 0.6 (AEFT).
    """

    def forward(self, inputs: ErasingInputs) -> Tensor:
        """Return the (B, 3, H, W) softly erased images."""
        fg_cam = inputs.fg_cam
        weights = (fg_cam < self.threshold).to(fg_cam.dtype) * fg_cam
        return inputs.images * weights
