"""The second view of a batch for two-view losses (SEAM, PPC).

View 2 is the batch resized bilinearly with ``align_corners=True``, either
to a fixed ``view_size`` (h, w) (PPC: 128 x 128) or by a ``view_scale``
factor in (0, 1] (SEAM: 0.3; each side floored, as
``F.interpolate(scale_factor=...)``). A second view is never larger than
the batch: both references shrink it, so factors above 1 are rejected.
"""
from typing import Optional, Sequence, Tuple

import torch.nn.functional as F
from torch import Tensor

from .cfg_defaults import is_number


def resize_corners(maps: Tensor, size: Sequence[int]) -> Tensor:
    """Resize (B, K, h, w) maps to ``size`` (H, W) bilinearly with
    ``align_corners=True``; maps already of that size are returned as they
    are (the resize would be the identity)."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(
        maps, size=tuple(size), mode='bilinear', align_corners=True)


def check_view_options(owner: str, view_size: Optional[Sequence[int]],
                       view_scale: Optional[float],
                       required: bool = True) -> None:
    """Validate how a second view is sized.

    Args:
        owner (str): Name used in the error messages.
        view_size (Sequence[int], optional): Fixed (h, w), two positive
            integers (bools are rejected).
        view_scale (float, optional): Factor in (0, 1].
        required (bool): Whether one of them must be given; else both may
            be None (the view then comes from elsewhere).

    Raises:
        ValueError: Naming the invalid option and its value.
    """
    if view_size is not None and view_scale is not None:
        raise ValueError(f'{owner}: set view_size or view_scale, not both '
                         f'(got view_size={view_size!r}, view_scale='
                         f'{view_scale!r}).')
    if required and view_size is None and view_scale is None:
        raise ValueError(f'{owner}: set one of view_size (h, w) and '
                         'view_scale (a factor), got None for both.')
    if view_size is not None and not (
            isinstance(view_size, (list, tuple)) and len(view_size) == 2
            and all(isinstance(s, int) and not isinstance(s, bool) and s > 0
                    for s in view_size)):
        raise ValueError(f'{owner} view_size={view_size!r}; expected None '
                         'or two positive integers (h, w).')
    if view_scale is not None and not (is_number(view_scale)
                                       and 0 < view_scale <= 1):
        raise ValueError(f'{owner} view_scale={view_scale!r}; expected None '
                         'or a factor in (0, 1].')


def second_view_size(shape: Sequence[int],
                     view_size: Optional[Sequence[int]],
                     view_scale: Optional[float]) -> Tuple[int, int]:
    """(h, w) of the second view of images of ``shape`` (..., H, W):
    ``view_size`` if given, else each side ``floor(side * view_scale)``, at
    least 1 (one of the two is set, see :func:`check_view_options`)."""
    if view_size is not None:
        return tuple(view_size)
    return tuple(max(1, int(side * view_scale)) for side in shape[-2:])
