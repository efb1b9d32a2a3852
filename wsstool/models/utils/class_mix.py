"""ClassMix on whole batches, on the batch's device (BECO).

Sample ``i`` of a batch of ``B`` is paired with sample ``i + B/2``; both
directions of each pair are mixed, the *target* keeping its pixels outside
the *mix mask* ``alpha`` and taking the *source*'s inside. ``alpha`` covers
the pixels of half of the classes present in the source label, and the
boundary band of ``alpha`` marks the pixels next to the pasted objects.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def random_class_mask(labels: Tensor,
                      ignore_index: int = 255,
                      ignore_bg: bool = True) -> Tensor:
    """The pixels of ``ceil(n / 2)`` of the ``n`` classes of each label map.

    The classes of each map are drawn uniformly without replacement with
    torch's global random generator on the labels' device; ``ignore_index``
    and, with ``ignore_bg``, the background class 0 are never drawn. A map
    without drawable classes gives an empty mask.

    Args:
        labels (Tensor): (B, H, W) int64 non-negative class ids.
        ignore_index (int): Id that is not a class.
        ignore_bg (bool): Never draw class 0.

    Returns:
        Tensor: (B, H, W) bool, True on the pixels of the drawn classes.
    """
    flat = labels.flatten(1)
    num_ids = int(flat.max()) + 1
    present = torch.zeros(
        len(labels), num_ids, dtype=torch.bool, device=labels.device)
    present.scatter_(1, flat, True)
    excluded = [ignore_index] + ([0] if ignore_bg else [])
    for class_id in excluded:
        if class_id < num_ids:
            present[:, class_id] = False
    num_drawn = (present.sum(dim=1, keepdim=True) + 1) // 2
    # A uniform random order of the present classes (absent ones last).
    scores = torch.rand(present.shape, device=labels.device)
    scores.masked_fill_(~present, 2.0)
    rank = scores.argsort(dim=1).argsort(dim=1)
    drawn = present & (rank < num_drawn)
    return drawn.gather(1, flat).view_as(labels)


def boundary_band(alpha: Tensor, boundary_size: int = 1) -> Tensor:
    """Dilation minus erosion of a mix mask by a square kernel.

    With ``k = 2 * boundary_size + 1``, a pixel is in the band when its
    ``k x k`` neighbourhood holds both True and False pixels of ``alpha``.
    Pixels outside the image count as neither (they neither dilate nor
    erode the mask, as OpenCV's default borders), so a constant mask has
    an empty band.

    Args:
        alpha (Tensor): (B, H, W) bool mix mask.
        boundary_size (int): Half-width of the kernel (0: empty band).

    Returns:
        Tensor: (B, H, W) bool band.
    """
    if boundary_size < 0:
        raise ValueError(
            f'boundary_size must be >= 0, got {boundary_size}.')
    kernel = 2 * boundary_size + 1
    mask = alpha.unsqueeze(1).float()
    dilated = F.max_pool2d(mask, kernel, stride=1, padding=boundary_size)
    eroded = -F.max_pool2d(-mask, kernel, stride=1, padding=boundary_size)
    return (dilated > eroded).squeeze(1)


def mix_pair_indices(
        batch_size: int,
        device: Optional[torch.device] = None) -> Tuple[Tensor, Tensor]:
    """Targets and sources of the mixed batch, in output order.

    Sample ``i`` is paired with ``j = i + B/2``; the output interleaves the
    two directions of each pair: ``(i <- j), (j <- i)`` for ``i = 0 ..
    B/2 - 1``, i.e. targets ``[0, B/2, 1, B/2 + 1, ...]`` and sources
    ``[B/2, 0, B/2 + 1, 1, ...]``.

    Args:
        batch_size (int): Even batch size B.
        device (torch.device, optional): Device of the indices.

    Returns:
        tuple[Tensor, Tensor]: (B,) int64 target and source indices.

    Raises:
        ValueError: If ``batch_size`` is odd.
    """
    if batch_size % 2:
        raise ValueError(
            f'ClassMix pairs sample i with i + B/2, so the batch size must '
            f'be even; got {batch_size}.')
    first = torch.arange(batch_size // 2, device=device)
    second = first + batch_size // 2
    targets = torch.stack([first, second], dim=1).flatten()
    sources = torch.stack([second, first], dim=1).flatten()
    return targets, sources


def class_mix(targets: Sequence[Tensor], sources: Sequence[Tensor],
              alpha: Tensor) -> Tuple[Tensor, ...]:
    """Paste the ``alpha`` pixels of each source tensor onto its target.

    Args:
        targets (Sequence[Tensor]): Tensors of shape (B, H, W) or
            (B, C, H, W) (images, labels, masks).
        sources (Sequence[Tensor]): Tensors of the same shapes.
        alpha (Tensor): (B, H, W) bool mix mask.

    Returns:
        tuple[Tensor, ...]: ``source`` where ``alpha`` else ``target``, one
        per pair, of the targets' shapes.
    """
    mixed = []
    for target, source in zip(targets, sources):
        mask = alpha if target.dim() == 3 else alpha.unsqueeze(1)
        mixed.append(torch.where(mask, source, target))
    return tuple(mixed)
