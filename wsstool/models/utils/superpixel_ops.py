"""Superpixel id maps on the device: batching, segment means, resizing."""
from typing import Optional, Sequence

import torch
from torch import Tensor

from wsstool.structures import WSSSDataSample
from .dense_targets import stack_dense_field


def stack_superpixels(data_samples: Optional[Sequence[WSSSDataSample]],
                      owner: str) -> Tensor:
    """(B, H, W) int64 superpixel ids of a batch, -1 on invalid pixels.

    Args:
        data_samples (Sequence[WSSSDataSample]): Samples holding
            ``superpixel`` (from :class:`ComputeSuperpixels`), all of one
            size, and optionally ``valid_mask`` (False on crop padding); if
            one sample has a ``valid_mask``, all must.
        owner (str): The model's name, used in errors.

    Returns:
        Tensor: (B, H, W) int64 ids; -1 where ``valid_mask`` is False.
    """
    ids = stack_dense_field(data_samples, 'superpixel', owner,
                            'superpixel ids; add ComputeSuperpixels to the '
                            'training pipeline').long()
    if not any('valid_mask' in sample for sample in data_samples):
        return ids
    valid = stack_dense_field(data_samples, 'valid_mask', owner,
                              'crop validity mask')
    if valid.shape != ids.shape:
        raise ValueError(
            f'{owner}: the superpixel maps {tuple(ids.shape)} and the valid '
            f'masks {tuple(valid.shape)} of a batch differ in size; the '
            'data preprocessor must pad superpixel (with -1) like '
            'valid_mask.')
    return ids.masked_fill(~valid.bool(), -1)


def superpixel_mean(maps: Tensor, superpixels: Tensor) -> Tensor:
    """Replace every pixel of ``maps`` by the mean over its superpixel.

    Segments are the (image, id) pairs: ids may be sparse and large, and the
    same id in two images names two superpixels. The sums are accumulated in
    float32 with ``index_add_`` (no dense one-hot tensor).

    Args:
        maps (Tensor): (B, K, H, W) values.
        superpixels (Tensor): (B, H, W) integer ids; pixels with a negative
            id (-1: invalid) belong to no superpixel.

    Returns:
        Tensor: (B, K, H, W) per-superpixel means in ``maps``' dtype, 0 on
        pixels with a negative id. Differentiable w.r.t. ``maps``.
    """
    if maps.dim() != 4 or superpixels.shape != (maps.shape[0], ) + tuple(
            maps.shape[2:]):
        raise ValueError(
            f'superpixel_mean: expected maps (B, K, H, W) and superpixels '
            f'(B, H, W); got {tuple(maps.shape)} and '
            f'{tuple(superpixels.shape)}.')
    batch, channels, height, width = maps.shape
    ids = superpixels.long().reshape(batch, -1)
    span = ids.max().clamp(min=0) + 1
    keys = ids + span * torch.arange(batch, device=ids.device)[:, None]
    pixels = torch.nonzero(ids.reshape(-1) >= 0).squeeze(1)
    segment_keys, segment = torch.unique(
        keys.reshape(-1)[pixels], return_inverse=True)
    num_segments = segment_keys.numel()

    values = maps.float().permute(0, 2, 3, 1).reshape(-1, channels)[pixels]
    sums = values.new_zeros(num_segments, channels).index_add_(
        0, segment, values)
    counts = torch.bincount(segment, minlength=num_segments)
    means = sums / counts[:, None].float()
    out = values.new_zeros(batch * height * width, channels).index_copy(
        0, pixels, means[segment])
    return out.reshape(batch, height, width,
                       channels).permute(0, 3, 1, 2).to(maps.dtype)


def downsample_ids(ids: Tensor, size: Sequence[int]) -> Tensor:
    """Nearest-neighbour resize of id maps by indexing (exact for any id).

    Output pixel (i, j) takes input pixel (i * H // h, j * W // w), the
    rule of ``F.interpolate(mode='nearest')`` in exact integer arithmetic
    (for a factor of 0.5: every second pixel, starting at 0).

    Args:
        ids (Tensor): (B, H, W) integer ids.
        size (Sequence[int]): Output (h, w).

    Returns:
        Tensor: (B, h, w) ids, same dtype and device.
    """
    if ids.dim() != 3 or len(size) != 2 or min(size) < 1:
        raise ValueError(f'downsample_ids: expected ids (B, H, W) and a '
                         f'positive (h, w) size; got {tuple(ids.shape)} and '
                         f'{tuple(size)}.')
    height, width = ids.shape[1:]
    rows = torch.arange(size[0], device=ids.device) * height // size[0]
    cols = torch.arange(size[1], device=ids.device) * width // size[1]
    return ids[:, rows[:, None], cols[None, :]]
