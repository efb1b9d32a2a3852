"""What a CAM method exposes of one view of a batch to auxiliary losses."""
from typing import NamedTuple

from torch import Tensor


class ContrastView(NamedTuple):
    """Features and class maps of one view of a batch of B images.

    Auxiliary losses such as ``PixelPrototypeContrast`` read them from the
    host method (:meth:`CAMClassifier.contrast_view`), so that they attach
    to any CAM method without knowing its network.

    Attributes:
        feats (Tensor): (B, D, h, w) features to project (the backbone
            feature the CAM head reads, before the head's dropout; SEAM:
            its dropout'ed ``conv6``, the classifier input).
        cam (Tensor): (B, C, h, w) raw foreground class maps on the same
            grid (no ReLU, no normalisation; SEAM: the PCM-refined maps).
    """
    feats: Tensor
    cam: Tensor
