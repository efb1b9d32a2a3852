"""MarginRelationLabel: an example relation-label refiner plugin."""
import numpy as np

from wsstool.registry import REFINERS


@REFINERS.register_module()
class MarginRelationLabel:
    """Relation labels that trust a CAM only where it clearly wins.

    Foreground c + 1 where the best CAM (class c) exceeds ``fg_thresh`` and
    the second best by ``margin``; background 0 where the best CAM is below
    ``bg_thresh``; 255 (unsure) elsewhere.

    Args:
        fg_thresh (float): Minimum best CAM of a foreground pixel.
        bg_thresh (float): Best CAM below which a pixel is background.
        margin (float): Minimum gap between the best and the second best CAM
            of a foreground pixel.
    """

    def __init__(self,
                 fg_thresh: float = 0.4,
                 bg_thresh: float = 0.1,
                 margin: float = 0.2) -> None:
        self.fg_thresh, self.bg_thresh = fg_thresh, bg_thresh
        self.margin = margin

    def __call__(self, image: np.ndarray, keys: np.ndarray,
                 cams: np.ndarray) -> np.ndarray:
        """(H, W, 3) RGB uint8 image, (K,) class ids and (K, H, W) CAMs ->
        uint8 (H, W) relation label."""
        label = np.full(image.shape[:2], 255, np.uint8)
        if not len(keys):
            return np.zeros_like(label)
        ranked = np.sort(cams, axis=0)
        top = ranked[-1]
        second = ranked[-2] if len(keys) > 1 else np.zeros_like(top)
        confident = (top > self.fg_thresh) & (top - second > self.margin)
        label[confident] = (keys[cams.argmax(0)] + 1)[confident]
        label[top < self.bg_thresh] = 0
        return label
