"""Confidence masks of pseudo labels by the top-1 / top-2 score margin
(``gen_mask.py`` of KTSE, SSC and BECO)."""
import numpy as np
import torch
from torch import Tensor

from wsstool.registry import REFINERS

TIE_HANDLINGS = ('exact', 'next_lower')


def score_margin(score: Tensor, tie_handling: str = 'exact') -> Tensor:
    """Per-pixel margin between the best and the second-best score.

    Args:
        score (Tensor): (C, H, W) scores.
        tie_handling (str): ``'exact'``: the true second-best score, so
            tied best scores give margin 0. ``'next_lower'`` (reference
            ``gen_mask``): scores equal to the maximum are set to 0 and the
            maximum is taken again, so ties give the maximum minus the next
            lower score. With a single channel the runner-up is 0 in both.

    Returns:
        Tensor: (H, W) margins.
    """
    best = score.max(dim=0).values
    if len(score) == 1:
        return best
    if tie_handling == 'exact':
        return best - score.topk(2, dim=0).values[1]
    runner_up = score.masked_fill(score == best, 0).max(dim=0).values
    return best - runner_up


@REFINERS.register_module()
class ConfidenceMask:
    """The most confident pixels of every class of a pseudo label.

    For each class value present in the label map, the ``floor(n_c *
    ratio)`` of its n_c pixels with the largest score margin (top-1 minus
    top-2 score, see :func:`score_margin`; ties in the margin keep raster
    order) are confident.

    Args:
        ratio (float): Confident fraction of every class, in (0, 1].
            Defaults to 0.5 (the reference).
        tie_handling (str): ``'exact'`` or ``'next_lower'`` (the reference's
            margin). Defaults to 'exact'.
    """

    def __init__(self,
                 ratio: float = 0.5,
                 tie_handling: str = 'exact') -> None:
        if not 0 < ratio <= 1:
            raise ValueError(
                f'ConfidenceMask ratio must be in (0, 1], got {ratio!r}')
        if tie_handling not in TIE_HANDLINGS:
            raise ValueError(f'ConfidenceMask tie_handling must be one of '
                             f'{TIE_HANDLINGS}, got {tie_handling!r}')
        self.ratio = ratio
        self.tie_handling = tie_handling

    def __call__(self, score: Tensor | np.ndarray,
                 label: Tensor | np.ndarray) -> Tensor | np.ndarray:
        """Confidence mask of one pseudo label.

        Args:
            score (Tensor | np.ndarray): (K + 1, H, W) float scores,
                background first.
            label (Tensor | np.ndarray): (H, W) integer pseudo label.

        Returns:
            Tensor | np.ndarray: (H, W) bool, True = confident; an ndarray
            for an ndarray ``score``, else a Tensor on its device.
        """
        is_numpy = isinstance(score, np.ndarray)
        score = torch.as_tensor(score)
        label = torch.as_tensor(label, device=score.device)
        if score.ndim != 3 or not score.is_floating_point():
            raise ValueError(f'ConfidenceMask needs a float score (K + 1, H, '
                             f'W), got {score.dtype} of shape '
                             f'{tuple(score.shape)}')
        if label.shape != score.shape[1:] or label.is_floating_point():
            raise ValueError(
                f'ConfidenceMask needs an integer label (H, W) matching '
                f'score {tuple(score.shape)}, got {label.dtype} of shape '
                f'{tuple(label.shape)}')
        mask = self.select(
            score_margin(score, self.tie_handling).flatten(),
            label.flatten()).view(label.shape)
        return mask.cpu().numpy() if is_numpy else mask

    def select(self, margin: Tensor, label: Tensor) -> Tensor:
        """(N,) bool: the top ``floor(n_c * ratio)`` of each class of the
        (N,) labels by (N,) margin, ties in raster order."""
        by_margin = margin.argsort(descending=True, stable=True)
        order = by_margin[label[by_margin].argsort(stable=True)]
        _, counts = label.unique(sorted=True, return_counts=True)
        starts = counts.cumsum(0) - counts
        rank = torch.arange(len(order), device=margin.device) - \
            starts.repeat_interleave(counts)
        keep = (counts.double() * self.ratio).floor().long()
        mask = torch.zeros_like(label, dtype=torch.bool)
        mask[order] = rank < keep.repeat_interleave(counts)
        return mask

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(ratio={self.ratio}, '
                f'tie_handling={self.tie_handling!r})')
