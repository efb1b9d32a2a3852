"""Online pseudo labels from CAMs refined with PAR (KTSE, after ToCo).

Two background thresholds turn the CAMs into a confident labelling: the high
one decides foreground, the low one background, and pixels on which they
disagree are ignored.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .cam_ops import normalize_cam


def _resize(x: Tensor, size: tuple) -> Tensor:
    return F.interpolate(x, size=size, mode='bilinear', align_corners=False)


def _refined_labels(scores: Tensor, image: Tensor, class_ids: Tensor,
                    refiner: nn.Module, size: tuple) -> Tensor:
    """Label maps (N, H, W) of N score stacks of one image.

    Args:
        scores (Tensor): (N, 1 + C, h, w) background channel, then the C
            class channels, at the refinement size.
        image (Tensor): (1, 3, h, w) image in [0, 1].
        class_ids (Tensor): (K + 1,) int64 label ids to keep (0 first).
        refiner (nn.Module): ``refiner(images, masks)`` refines masks.
        size (tuple): Output size (H, W).
    """
    probs = scores[:, class_ids].softmax(dim=1)
    refined = refiner(image.expand(len(scores), -1, -1, -1), probs)
    return class_ids[_resize(refined, size).argmax(dim=1)]


@torch.no_grad()
def par_pseudo_labels(cam: Tensor,
                      labels: Tensor,
                      images: Tensor,
                      refiner: nn.Module,
                      high_bg: float = 0.30,
                      low_bg: float = 0.15,
                      scale: float = 0.5,
                      ignore_index: int = 255) -> Tensor:
    """KTSE's online pseudo labels.

    1. ``max``-normalise the raw CAMs (no ReLU) and upsample them to H x W.
    2. Prepend a constant background channel, ``high_bg`` for one stack and
       ``low_bg`` for the other; resize both to ``scale`` * (H, W); keep the
       background and the present classes; softmax over the channels.
    3. Refine both with ``refiner`` on the images resized alike, upsample to
       H x W, take the arg-max label ids (0 background, c + 1 class c).
    4. Label = the high-threshold label where it is foreground,
       ``ignore_index`` where only the low-threshold one is foreground, 0
       where both are background.

    Args:
        cam (Tensor): (B, C, h, w) raw class activation maps.
        labels (Tensor): (B, C) multi-hot image-level labels.
        images (Tensor): (B, 3, H, W) images in [0, 1].
        refiner (nn.Module): ``refiner(images, masks) -> masks`` with images
            (N, 3, h', w') and masks (N, K, h', w'), e.g. :class:`PAR`.
        high_bg (float): Background score of the foreground-deciding stack.
            Defaults to 0.30.
        low_bg (float): Background score of the background-deciding stack.
            Defaults to 0.15.
        scale (float): Resolution of the refinement relative to the images.
            Defaults to 0.5.
        ignore_index (int): Label of uncertain pixels. Defaults to 255.

    Returns:
        Tensor: (B, H, W) int64 pseudo labels.
    """
    if (cam.dim() != 4 or images.dim() != 4
            or labels.shape != cam.shape[:2]
            or images.shape[0] != cam.shape[0]):
        raise ValueError(
            f'par_pseudo_labels got cam {tuple(cam.shape)}, labels '
            f'{tuple(labels.shape)} and images {tuple(images.shape)}; '
            'expected (B, C, h, w), (B, C) and (B, 3, H, W)')
    if not 0 < scale <= 1:
        raise ValueError(f'par_pseudo_labels scale must be in (0, 1], got '
                         f'{scale!r}')
    size = tuple(images.shape[-2:])
    small = (int(size[0] * scale), int(size[1] * scale))
    cam = _resize(normalize_cam(cam.float(), 'max'), size)
    stacks = torch.stack([
        torch.cat([cam.new_full((cam.shape[0], 1) + size, background), cam],
                  dim=1) for background in (high_bg, low_bg)
    ], dim=1)
    # (B, 2, 1 + C, h', w'): the high- and low-threshold stacks of each image
    stacks = _resize(stacks.flatten(0, 1), small).unflatten(0, (-1, 2))
    small_images = _resize(images.float(), small)
    pseudo_labels = []
    for index, present in enumerate(labels > 0.5):
        class_ids = torch.cat(
            [present.new_zeros(1, dtype=torch.long),
             torch.nonzero(present)[:, 0] + 1])
        high, low = _refined_labels(stacks[index], small_images[[index]],
                                    class_ids, refiner, size)
        label = high.masked_fill(high == 0, ignore_index)
        pseudo_labels.append(label.masked_fill((high == 0) & (low == 0), 0))
    return torch.stack(pseudo_labels)
