"""Global average pooling of class maps (the plain CAM classifier)."""
from typing import Optional, Tuple

from torch import Tensor, nn

from wsstool.registry import MODELS


def check_class_maps(cam: Tensor, num_classes: Optional[int],
                     owner: str) -> None:
    """Raise a ``ValueError`` naming ``owner`` unless ``cam`` is a
    (B, num_classes, h, w) tensor (any channel count when ``num_classes``
    is None)."""
    if cam.dim() != 4 or (num_classes is not None
                          and cam.shape[1] != num_classes):
        expected = 'C' if num_classes is None else num_classes
        raise ValueError(f'{owner}: expected class maps of shape (B, '
                         f'{expected}, h, w), got {tuple(cam.shape)}.')


@MODELS.register_module()
class GlobalAvgPool(nn.Module):
    """Logits as the spatial mean of the class maps: ``s = GAP(cam)``.

    Args:
        num_classes (int, optional): Expected channel count C of the class
            maps; None accepts any.
    """

    def __init__(self, num_classes: Optional[int] = None) -> None:
        super().__init__()
        if num_classes is not None and not (isinstance(num_classes, int)
                                            and num_classes > 0):
            raise ValueError('GlobalAvgPool num_classes must be None or a '
                             f'positive integer, got {num_classes!r}.')
        self.num_classes = num_classes

    def forward(self, cam: Tensor) -> Tuple[Tensor, Tensor]:
        """Pool (B, C, h, w) raw class maps.

        Returns:
            tuple[Tensor, Tensor]: logits (B, C) and the pooled map, which is
            ``cam`` itself (B, C, h, w).
        """
        check_class_maps(cam, self.num_classes, type(self).__name__)
        return cam.mean(dim=(2, 3)), cam
