"""Pixel pairs within a radius, their paths, and inter-pixel affinities.

A pair joins a *source* pixel p = (i, j) and its *destination* p + d for a
search direction d = (dy, dx). Directions cover a half plane, so every
unordered pair within the radius is counted once (IRN order, see
:func:`search_directions`).

Affinity maps are laid out per direction: ``a[:, k, i, j]`` is the affinity
between (i, j) and (i, j) + directions[k]. Two source regions exist:

* ``'source_crop'`` (training): sources are rows [0, H - m) and columns
  [m, W - m) with margin m = ceil(radius) - 1, so that every destination lies
  in the map; maps are (B, D, H - m, W - 2m).
* ``'full'`` (inference): every pixel is a source; maps are (B, D, H, W) and
  the affinity is 0 where the destination lies outside the map.
"""
import math
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

REGIONS = ('source_crop', 'full')
MAX_PATH_POINTS = 256  # the position of a path's maximum is kept as uint8


def search_directions(radius: float) -> List[Tuple[int, int]]:
    """Offsets (dy, dx) of the half-plane neighbourhood of ``radius``.

    (0, x) for x = 1..r-1, then (y, x) for y = 1..r-1 and x = -(r-1)..r-1,
    keeping x^2 + y^2 < radius^2, with r - 1 = ceil(radius) - 1. Radius 10
    gives 152 directions, radius 5 gives 34.
    """
    if radius <= 1:
        raise ValueError(f'radius must be > 1 to have any direction, got '
                         f'{radius}.')
    reach = math.ceil(radius) - 1
    directions = [(0, x) for x in range(1, reach + 1)]
    directions += [(y, x) for y in range(1, reach + 1)
                   for x in range(-reach, reach + 1)
                   if x * x + y * y < radius**2]
    return directions


def direction_path(dy: int, dx: int) -> Tensor:
    """Lattice points (L, 2) of the path from (0, 0) to (dy, dx).

    The points of the bounding box of the segment whose squared distance to
    the line through it, (dy * x - dx * y)^2 / (dy^2 + dx^2), is below 1,
    ordered by their progress along the direction (both endpoints
    included).
    """
    ys = torch.arange(min(0, dy), max(0, dy) + 1)
    xs = torch.arange(min(0, dx), max(0, dx) + 1)
    points = torch.cartesian_prod(ys, xs)
    y, x = points[:, 0], points[:, 1]
    near = (dy * x - dx * y)**2 < dy * dy + dx * dx
    points = points[near]
    progress = points[:, 0] * dy + points[:, 1] * dx
    return points[torch.argsort(progress, stable=True)]


class PathIndex:
    """Directions within ``radius`` and the path of each.

    Attributes:
        radius (float): Search radius.
        margin (int): ceil(radius) - 1, the largest offset of a direction.
        directions (Tensor): (D, 2) int64 offsets (dy, dx).
        paths (list[Tensor]): per direction, (L_d, 2) int64 lattice offsets
            from the source to the destination, both included.
    """

    def __init__(self, radius: float) -> None:
        self.radius = radius
        self.margin = math.ceil(radius) - 1
        directions = search_directions(radius)
        self.directions = torch.tensor(directions, dtype=torch.long)
        self.paths = [direction_path(dy, dx) for dy, dx in directions]

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(radius={self.radius}, '
                f'directions={len(self.paths)})')


def _check_region(region: str) -> None:
    if region not in REGIONS:
        raise ValueError(f'Unknown region {region!r}; expected one of '
                         f'{REGIONS}.')


def _source_crop_size(height: int, width: int, margin: int) -> Tuple[int, int]:
    """(H - m, W - 2m), checked to be non-empty."""
    if height - margin < 1 or width - 2 * margin < 1:
        raise ValueError(
            f'A {height}x{width} map has no source pixel for margin '
            f'{margin}: need height > {margin} and width > {2 * margin}.')
    return height - margin, width - 2 * margin


def _check_directions(directions: Tensor, margin: int) -> List[List[int]]:
    """Directions (D, 2) as a list, checked to fit in ``margin``."""
    if directions.dim() != 2 or directions.shape[1] != 2:
        raise ValueError(f'directions must be (D, 2), got '
                         f'{tuple(directions.shape)}.')
    offsets = directions.tolist()
    for dy, dx in offsets:
        if not (0 <= dy <= margin and abs(dx) <= margin):
            raise ValueError(
                f'direction ({dy}, {dx}) does not fit in margin {margin}: '
                f'expected 0 <= dy <= {margin} and |dx| <= {margin}.')
    return offsets


def _shifted(x: Tensor, offset: Sequence[int], margin: int,
             size: Tuple[int, int]) -> Tensor:
    """View of the last two dims of ``x`` at the sources shifted by
    ``offset`` (dy, dx): rows [dy, dy + h), cols [m + dx, m + dx + w)."""
    dy, dx = offset
    h, w = size
    return x[..., dy:dy + h, margin + dx:margin + dx + w]


def _pad_for_full(x: Tensor, margin: int, value: float) -> Tensor:
    """Pad the last two dims by ``margin`` on the left, right and bottom,
    so that the source crop of the result covers every pixel of ``x``."""
    return F.pad(x, (margin, margin, 0, margin), value=value)


class _PathAffinity(torch.autograd.Function):
    """a = 1 - max over each direction's path of a boundary map.

    Only the position of the maximum on the path (uint8 per pair) is kept
    for the backward pass, which sends -grad to that boundary pixel (the
    first maximum along the path on ties).
    """

    @staticmethod
    def forward(ctx, boundary: Tensor, paths: List[Tensor],
                margin: int) -> Tensor:
        size = _source_crop_size(*boundary.shape[-2:], margin)
        out = boundary.new_empty(boundary.shape[0], len(paths), *size)
        argmax = torch.zeros(out.shape, dtype=torch.uint8,
                             device=boundary.device)
        for k, path in enumerate(paths):
            offsets = path.tolist()
            peak = out[:, k]
            peak.copy_(_shifted(boundary, offsets[0], margin, size))
            for step, offset in enumerate(offsets[1:], start=1):
                value = _shifted(boundary, offset, margin, size)
                argmax[:, k].masked_fill_(value > peak, step)
                torch.maximum(peak, value, out=peak)
        ctx.save_for_backward(argmax)
        ctx.paths, ctx.margin, ctx.shape = paths, margin, boundary.shape
        return out.neg_().add_(1)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        argmax, = ctx.saved_tensors
        size = argmax.shape[-2:]
        grad = grad_out.new_zeros(ctx.shape)
        for k, path in enumerate(ctx.paths):
            for step, offset in enumerate(path.tolist()):
                hit = argmax[:, k] == step
                _shifted(grad, offset, ctx.margin, size).sub_(
                    grad_out[:, k] * hit)
        return grad, None, None


def boundary_affinities(boundary: Tensor,
                        path_index: PathIndex,
                        region: str = 'source_crop') -> Tensor:
    """Affinities from a boundary map: a = 1 - max of B over the pair's path.

    Args:
        boundary (Tensor): (B, H, W) boundary probabilities in [0, 1].
        path_index (PathIndex): Directions and paths.
        region (str): ``'source_crop'`` or ``'full'`` (module docstring).
            Under ``'full'`` the map is padded with B = 1 on the left, right
            and bottom, so pairs leaving the map get affinity 0.

    Returns:
        Tensor: (B, D, H - m, W - 2m) or, for ``'full'``, (B, D, H, W).
        Memory-lean backward: only the argmax position along each path is
        stored.
    """
    _check_region(region)
    if boundary.dim() != 3:
        raise ValueError(f'boundary must be (B, H, W), got '
                         f'{tuple(boundary.shape)}.')
    if max(len(path) for path in path_index.paths) > MAX_PATH_POINTS:
        raise ValueError(f'paths of more than {MAX_PATH_POINTS} points are '
                         f'not supported (radius {path_index.radius}).')
    margin = path_index.margin
    if region == 'full':
        boundary = _pad_for_full(boundary, margin, value=1.0)
    return _PathAffinity.apply(boundary, path_index.paths, margin)


def feature_affinities(features: Tensor,
                       directions: Tensor,
                       margin: int,
                       region: str = 'source_crop') -> Tensor:
    """AffinityNet affinities a = exp(-mean_c |f_src - f_dst|).

    Args:
        features (Tensor): (B, C, H, W) feature map.
        directions (Tensor): (D, 2) offsets (dy, dx), e.g.
            ``PathIndex.directions``.
        margin (int): Margin of the source crop, e.g. ``PathIndex.margin``.
        region (str): ``'source_crop'`` or ``'full'`` (module docstring).

    Returns:
        Tensor: (B, D, H - m, W - 2m) or, for ``'full'``, (B, D, H, W) with
        0 where the destination lies outside the map.
    """
    _check_region(region)
    if features.dim() != 4:
        raise ValueError(f'features must be (B, C, H, W), got '
                         f'{tuple(features.shape)}.')
    offsets = _check_directions(directions, margin)
    height, width = features.shape[-2:]
    if region == 'full':
        features = _pad_for_full(features, margin, value=0.0)
    size = _source_crop_size(*features.shape[-2:], margin)
    source = _shifted(features, (0, 0), margin, size)
    distance = torch.stack([
        (source - _shifted(features, offset, margin, size)).abs().mean(1)
        for offset in offsets
    ], dim=1)
    affinity = torch.exp(-distance)
    if region == 'full':
        inside = destination_inside(directions.to(affinity.device), height,
                                    width)
        affinity = affinity * inside.to(affinity.dtype)
    return affinity


def destination_inside(directions: Tensor, height: int,
                       width: int) -> Tensor:
    """(D, H, W) bool: whether (i, j) + directions[k] lies in an H x W map
    (on the device of ``directions``)."""
    rows = torch.arange(height, device=directions.device)
    cols = torch.arange(width, device=directions.device)
    dst_rows = rows[None, :, None] + directions[:, 0, None, None]
    dst_cols = cols[None, None, :] + directions[:, 1, None, None]
    return ((dst_rows >= 0) & (dst_rows < height) & (dst_cols >= 0) &
            (dst_cols < width))


def affinity_pair_labels(
        label: Tensor,
        directions: Tensor,
        margin: int,
        ignore_index: int = 255) -> Tuple[Tensor, Tensor, Tensor]:
    """Pair labels of a relation label map over the source crop.

    Args:
        label (Tensor): (B, H, W) int64, 0 = background, c + 1 = class c,
            values >= ``ignore_index`` = unsure.
        directions (Tensor): (D, 2) offsets (dy, dx).
        margin (int): Margin of the source crop.
        ignore_index (int): Labels from this value up are not paired.

    Returns:
        tuple[Tensor]: ``bg_pos`` (both ends background), ``fg_pos`` (both
        ends the same foreground class) and ``neg`` (different labels), bool
        (B, D, H - m, W - 2m); pairs with an unsure end are in none.
    """
    if label.dim() != 3:
        raise ValueError(f'label must be (B, H, W), got '
                         f'{tuple(label.shape)}.')
    offsets = _check_directions(directions, margin)
    size = _source_crop_size(*label.shape[-2:], margin)
    source = _shifted(label, (0, 0), margin, size).unsqueeze(1)
    destination = torch.stack(
        [_shifted(label, offset, margin, size) for offset in offsets], dim=1)
    valid = (source < ignore_index) & (destination < ignore_index)
    same = valid & (source == destination)
    bg_pos = same & (source == 0)
    fg_pos = same & (source > 0)
    neg = valid & (source != destination)
    return bg_pos, fg_pos, neg


def subsample_label(label: Tensor, stride: int) -> Tensor:
    """Nearest subsampling of a (B, H, W) label map at the cell centres.

    Picks rows and columns min(i * stride + stride // 2, size - 1), which is
    PIL's nearest rescale by 1 / stride for sizes divisible by ``stride``.

    Returns:
        Tensor: (B, ceil(H / stride), ceil(W / stride)).
    """
    if label.dim() != 3:
        raise ValueError(f'label must be (B, H, W), got '
                         f'{tuple(label.shape)}.')
    if stride < 1:
        raise ValueError(f'stride must be >= 1, got {stride}.')
    height, width = label.shape[-2:]

    def centres(size: int) -> Tensor:
        index = torch.arange(0, size, stride, device=label.device)
        return (index + stride // 2).clamp(max=size - 1)

    return label[:, centres(height)][:, :, centres(width)]
