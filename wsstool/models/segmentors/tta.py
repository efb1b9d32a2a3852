"""Test-time augmentation of segmentation logits: rescaled and horizontally
flipped copies of a batch, fused pixel-wise by mean or max."""
from typing import Callable, Optional, Sequence

import torch.nn.functional as F
from torch import Tensor

from ..utils.cam_ops import rescale_images, scaled_size

FUSION_MODES = ('mean', 'max')


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
               fusion: str = 'mean',
               size: Optional[Sequence[int]] = None) -> Tensor:
    """Fuse the logits of rescaled and flipped copies of a batch.

    For each scale s the batch is resized bilinearly to
    :func:`~wsstool.models.utils.cam_ops.scaled_size` (each side
    ``round(side * s)``, halves to even, at least 1) and passed to
    ``logit_fn``; with ``flip`` its horizontal flip is passed too and the
    logits are flipped back. Every logit map is resized bilinearly to the
    fusion grid and the ``len(scales) * (1 + flip)`` maps are fused
    pixel-wise by ``fusion``: ``'mean'`` (mmseg's TTA averages the softmax
    instead) or ``'max'`` (BECO/KTSE/SSC multi-scale test, without flip).

    Args:
        logit_fn (Callable): Maps images (B, 3, h, w) to logits
            (B, K, h', w') before softmax.
        inputs (Tensor): (B, 3, H, W) normalised images.
        scales (Sequence[float]): Positive rescaling factors.
        flip (bool): Also run the horizontally flipped images.
        fusion (str): ``'mean'`` or ``'max'``.
        size (Sequence[int], optional): (h, w) fusion grid. None: the grid
            of ``logit_fn(inputs)``, the logits of the unscaled batch (e.g.
            a decode head's output grid), which needs 1.0 among ``scales``.

    Returns:
        Tensor: (B, K, h, w) float32 fused logits.
    """
    if fusion not in FUSION_MODES:
        raise ValueError(f'Unknown logit fusion {fusion!r}; expected one of '
                         f'{FUSION_MODES}.')
    if not scales:
        raise ValueError('tta_logits needs at least one scale.')
    if size is None and 1.0 not in scales:
        raise ValueError(
            'tta_logits fuses on the grid of the unscaled logits, so the '
            f'scales {tuple(scales)} must include 1.0 (or give the size).')
    # the unscaled batch first: its logits set the fusion grid
    ordered = sorted(scales, key=lambda scale: scale != 1.0)
    fused = None
    for scale in ordered:
        images = inputs
        if scale != 1.0:
            images = rescale_images(
                inputs, scaled_size(inputs.shape[-2:], scale), 'bilinear')
        passes = [logit_fn(images)]
        if flip:
            passes.append(logit_fn(images.flip(-1)).flip(-1))
        for logits in passes:
            if size is None:
                size = logits.shape[-2:]
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
