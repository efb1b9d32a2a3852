"""Pseudo labels from refined score maps."""
import torch
from torch import Tensor


def scores_to_label(score: Tensor, class_ids: Tensor) -> Tensor:
    """Arg-max label map of background-first scores.

    Args:
        score (Tensor): (K + 1, H, W) scores, channel 0 = background,
            channel k + 1 = foreground class ``class_ids[k]``.
        class_ids (Tensor): (K,) int64 foreground class indices
            (0 = first foreground class).

    Returns:
        Tensor: (H, W) int64 label map, 0 = background, c + 1 = class c.
    """
    if score.ndim != 3 or class_ids.ndim != 1 or len(
            score) != len(class_ids) + 1:
        raise ValueError(
            f'scores_to_label needs score (K + 1, H, W) and class_ids (K,), '
            f'got {tuple(score.shape)} and {tuple(class_ids.shape)}')
    labels = torch.cat(
        [class_ids.new_zeros(1), class_ids.to(torch.int64) + 1])
    return labels.to(score.device)[score.argmax(dim=0)]
