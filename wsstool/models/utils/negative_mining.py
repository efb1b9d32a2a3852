"""In-batch negative mining for triplet losses over image-level labels."""
from typing import Optional

import torch
from torch import Tensor


def mine_disjoint_negatives(
        labels: Tensor,
        generator: Optional[torch.Generator] = None) -> Tensor:
    """Pick, for every anchor, a batch sample sharing none of its classes.

    Each anchor draws its own random permutation of the batch and takes the
    first sample in it whose label is disjoint from its own, i.e. a
    uniformly random disjoint sample. An anchor is never its own negative;
    it gets -1 when the batch holds no disjoint sample (AEFT's loop
    misaligns the indices in that case; here such anchors are simply
    marked for skipping).

    Args:
        labels (Tensor): (B, C) multi-hot labels; a class is present where
            the value is > 0.
        generator (torch.Generator, optional): Source of the permutations;
            the global RNG (on ``labels.device``) when None.

    Returns:
        Tensor: (B,) int64 index of each anchor's negative, or -1.
    """
    if labels.dim() != 2:
        raise ValueError(f'labels must be (B, C); got shape '
                         f'{tuple(labels.shape)}')
    present = labels > 0
    batch = len(labels)
    eye = torch.eye(batch, dtype=torch.bool, device=labels.device)
    disjoint = ~(present[:, None] & present[None]).any(dim=-1) & ~eye
    # random priorities: sorting row i gives anchor i's permutation
    rng_device = labels.device if generator is None else generator.device
    rank = torch.rand((batch, batch), generator=generator,
                      device=rng_device).to(labels.device)
    rank = rank.masked_fill(~disjoint, float('inf'))
    negatives = rank.argmin(dim=1)
    return torch.where(disjoint.any(dim=1), negatives,
                       torch.full_like(negatives, -1))
