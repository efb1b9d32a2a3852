"""Hard erasing of the confident foreground (KTSE intra-image erasing)."""
from torch import Tensor

from wsstool.registry import ERASERS
from .base import ErasingInputs, ThresholdEraser


@ERASERS.register_module()
class HardThresholdEraser(ThresholdEraser):
    """Set the pixels whose foreground CAM reaches ``threshold`` to 0.

    ``erased = images * [fg_cam < threshold]``; 0 is the mean colour of the
    normalised images, all other pixels are kept unchanged.

    Args:
        threshold (float): Foreground CAM value from which a pixel is
            erased, in (0, 1]. Defaults to 0.6 (KTSE).
    """

    def forward(self, inputs: ErasingInputs) -> Tensor:
        """Return the (B, 3, H, W) images with the confident foreground
        erased."""
        keep = inputs.fg_cam < self.threshold
        return inputs.images * keep.to(inputs.images.dtype)
