"""Test-time augmentation of segmentation logits: rescaled and horizontally
flipped copies of a batch, fused pixel-wise by mean or max."""
from typing import Callable, Sequence, Tuple

import torch.nn.functional as F
from torch import Tensor

FUSION_MODES = ('mean', 'max')


def tta_scaled_size(size: Sequence[int], scale: float) -> Tuple[int, int]:
    """(h, w) of an image of ``size`` rescaled by ``scale``: each side
    ``int(side * scale + 0.5)`` (at least 1), as mmcv/mmseg round.

    BECO rescales its 512 x 512 test input with ``scale_factor``, i.e.
    ``floor(side * scale)``; for its scales 0.5 ... 1.5 both give the same
    integer sizes.
    """
    return (max(1, int(size[0] * scale + 0.5)),
            max(1, int(size[1] * scale + 0.5)))


def resize_bilinear(maps: Tensor, size: Sequence[int]) -> Tensor:
    """Resize (N, C, h, w) maps to ``size`` (H, W) bilinearly
    (``align_corners=False``); returned as is when already that size."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(
        maps, size=tuple(size), mode='bilinear', align_corners=False)


def tta_logits(logit_fn: Callable[[Tensor], Tensor],
               inputs: Tensor,
               scales: Sequence[float] = (1.0, ),
               flip: bool = False,
               fusion: str = 'mean') -> Tensor:
    """Fuse the logits of rescaled and flipped copies of a batch.

    For each scale s the batch is resized bilinearly to
    :func:`tta_scaled_size` and passed to ``logit_fn``; with ``flip`` its
    horizontal flip is passed too and the logits are flipped back. Every
    logit map is resized bilinearly to the input size and the
    ``len(scales) * (1 + flip)`` maps are fused pixel-wise by ``fusion``:
    ``'mean'`` (mmseg's TTA averages the softmax instead) or ``'max'``
    (BECO/KTSE/SSC multi-scale test, without flip).

    Args:
        logit_fn (Callable): Maps images (B, 3, h, w) to logits
            (B, K, h', w') before softmax.
        inputs (Tensor): (B, 3, H, W) normalised images.
        scales (Sequence[float]): Positive rescaling factors.
        flip (bool): Also run the horizontally flipped images.
        fusion (str): ``'mean'`` or ``'max'``.

    Returns:
        Tensor: (B, K, H, W) float32 fused logits.
    """
    if fusion not in FUSION_MODES:
        raise ValueError(f'Unknown logit fusion {fusion!r}; expected one of '
                         f'{FUSION_MODES}.')
    if not scales:
        raise ValueError('tta_logits needs at least one scale.')
    size = inputs.shape[-2:]
    fused = None
    for scale in scales:
        images = resize_bilinear(inputs, tta_scaled_size(size, scale))
        passes = [logit_fn(images)]
        if flip:
            passes.append(logit_fn(images.flip(-1)).flip(-1))
        for logits in passes:
            logits = resize_bilinear(logits, size).float()
            if fused is None:
                fused = logits
            elif fusion == 'mean':
                fused = fused + logits
            else:
                fused = fused.maximum(logits)
    if fusion == 'mean':
        fused = fused / (len(scales) * (1 + int(flip)))
    return fused
