"""The intra-image eraser protocol: what an eraser reads and returns.

wsstool has two kinds of erasers, both registered in
:data:`wsstool.registry.ERASERS` and selected by a method's config:

* **Intra-image erasers** subclass :class:`BaseEraser`: ``eraser(inputs)``
  takes an :class:`ErasingInputs` and returns the erased images
  (B, 3, H, W) that the method feeds to the network again
  (e.g. :class:`HardThresholdEraser`, :class:`SoftCAMEraser`).
* **Inter-image composers** (e.g. :class:`SimulatedInterImageEraser`) pair
  two batches instead: ``compose(anchor, partner)`` joins tensors of two
  images into one synthetic image and ``compose_labels`` merges their
  labels. They do not fit ``forward(inputs)`` and do not subclass
  :class:`BaseEraser`.

A new intra-image eraser subclasses :class:`BaseEraser`, decorates itself
with ``@ERASERS.register_module()`` and implements ``forward``; it may read
any field of :class:`ErasingInputs` (optional fields are None when the
method does not compute them, so check for what you need).
"""
from abc import ABCMeta, abstractmethod
from dataclasses import dataclass, fields
from typing import Optional

from torch import Tensor, nn


@dataclass
class ErasingInputs:
    """Everything an intra-image eraser may use, at image resolution.

    Attributes:
        images (Tensor): (B, 3, H, W) normalised images (0 = mean colour).
        fg_cam (Tensor): (B, 1, H, W) foreground CAM in [0, 1]: per pixel,
            the max over the image's present classes of the
            ``minmax_train``-normalised, upsampled CAMs.
        labels (Tensor): (B, C) multi-hot image-level labels over the
            foreground classes.
        class_cams (Tensor, optional): (B, C, H, W) the same normalised CAMs
            per class, zero for absent classes.
        pseudo_labels (Tensor, optional): (B, H, W) int64, 0 background,
            c + 1 foreground class c, 255 ignore.
        raw_cams (Tensor, optional): (B, C, H, W) ReLU'd, un-normalised CAMs
            upsampled to H x W.
    """
    images: Tensor
    fg_cam: Tensor
    labels: Tensor
    class_cams: Optional[Tensor] = None
    pseudo_labels: Optional[Tensor] = None
    raw_cams: Optional[Tensor] = None

    def __post_init__(self) -> None:
        if self.images.dim() != 4 or self.images.shape[1] != 3:
            raise ValueError(f'ErasingInputs.images must be (B, 3, H, W); '
                             f'got {tuple(self.images.shape)}')
        if self.labels.dim() != 2 or len(self.labels) != len(self.images):
            raise ValueError(
                f'ErasingInputs.labels must be (B, C) with B = '
                f'{len(self.images)}; got {tuple(self.labels.shape)}')
        batch, _, height, width = self.images.shape
        num_classes = self.labels.shape[1]
        expected = dict(
            fg_cam=(batch, 1, height, width),
            class_cams=(batch, num_classes, height, width),
            pseudo_labels=(batch, height, width),
            raw_cams=(batch, num_classes, height, width))
        for field in fields(self):
            value = getattr(self, field.name)
            if (field.name in expected and value is not None
                    and tuple(value.shape) != expected[field.name]):
                raise ValueError(
                    f'ErasingInputs.{field.name} must have shape '
                    f'{expected[field.name]}; got {tuple(value.shape)}')


class BaseEraser(nn.Module, metaclass=ABCMeta):
    """Base class of the intra-image erasers (see the module docstring)."""

    @abstractmethod
    def forward(self, inputs: ErasingInputs) -> Tensor:
        """Erase the images.

        Args:
            inputs (ErasingInputs): Images, CAMs and labels of the batch.

        Returns:
            Tensor: (B, 3, H, W) erased images.
        """


class ThresholdEraser(BaseEraser):
    """Base of erasers that erase where the foreground CAM reaches
    ``threshold``.

    Args:
        threshold (float): Foreground CAM value from which a pixel is
            erased, in (0, 1].
    """

    def __init__(self, threshold: float = 0.6) -> None:
        super().__init__()
        if not 0 < threshold <= 1:
            raise ValueError(f'threshold={threshold!r}: expected a value in '
                             '(0, 1], the range of the foreground CAM')
        self.threshold = float(threshold)

    def extra_repr(self) -> str:
        return f'threshold={self.threshold}'
