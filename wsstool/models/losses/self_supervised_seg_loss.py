"""KTSE self-supervised regularisation (SSR) of the background-aware head."""
from typing import Dict, Optional

import torch.nn.functional as F
from torch import Tensor, nn

from wsstool.registry import MODELS

EPS = 1e-5


@MODELS.register_module()
class SelfSupervisedSegLoss(nn.Module):
    """Segmentation losses of KTSE's SSR on online pseudo labels.

    With ``P = up(relu(seg_logits))`` (``relu_logits=True``, KTSE's "ReLU
    before cross-entropy") or ``P = up(seg_logits)``, ``up`` resizing
    bilinearly to the pseudo labels (``align_corners=False``):

    * ``loss_seg_bg = bg_weight * CE(P, label with foreground set to
      ignore)`` over all images.
    * ``loss_seg_fg = fg_weight * CE(P, label with background set to
      ignore)`` over the single-class images (exactly one positive label;
      KTSE's anchors), or over all images with ``fg_single_class_only=False``
      (KTSE's composed images: the spec writes the term on the whole
      composition).
    * ``loss_seg_inter = inter_weight * sum((V_2nd - sg(V_max)) * k) /
      (sum k + 1e-5)`` over the multi-class images (two or more labels),
      where ``V_max`` and ``V_2nd`` are the largest and second largest of
      the C foreground channels of ``P`` at each pixel (all channels, not
      only the labelled ones) and ``k = [fg_cam > inter_cam_thr]``. It
      pushes the runner-up class down where the CAM is confident.

    Each cross-entropy is the mean over its non-ignored pixels; a term with
    no pixel or image to act on is 0 and keeps its graph to ``seg_logits``.
    The inter term is left out of the result when ``inter_weight`` is 0 or
    ``fg_cam`` is None (KTSE's loss on the composed image uses only the bg
    and fg terms).

    Args:
        bg_weight (float): Weight of the background term. Defaults to 1.0.
        fg_weight (float): Weight of the foreground term. Defaults to 0.0125.
        inter_weight (float): Weight of the inter-class term.
            Defaults to 0.005.
        inter_cam_thr (float): fg-CAM threshold of the inter-class region.
            Defaults to 0.2.
        relu_logits (bool): Apply ReLU to the logits before the losses.
            Defaults to True.
        fg_single_class_only (bool): Restrict the foreground term to
            single-class images. Defaults to True.
        ignore_index (int): Ignored pseudo-label value. Defaults to 255.
        loss_name (str): Prefix of the returned keys (``<loss_name>_bg``,
            ``_fg``, ``_inter``); it must start with ``loss`` so that the
            terms are summed into the total loss. Defaults to 'loss_seg'.
    """

    def __init__(self,
                 bg_weight: float = 1.0,
                 fg_weight: float = 0.0125,
                 inter_weight: float = 0.005,
                 inter_cam_thr: float = 0.2,
                 relu_logits: bool = True,
                 fg_single_class_only: bool = True,
                 ignore_index: int = 255,
                 loss_name: str = 'loss_seg') -> None:
        super().__init__()
        if not loss_name.startswith('loss'):
            raise ValueError(
                f"loss_name must start with 'loss' to count in the total "
                f'loss, got {loss_name!r}.')
        self.bg_weight = bg_weight
        self.fg_weight = fg_weight
        self.inter_weight = inter_weight
        self.inter_cam_thr = inter_cam_thr
        self.relu_logits = relu_logits
        self.fg_single_class_only = fg_single_class_only
        self.ignore_index = ignore_index
        self.loss_name = loss_name

    def _cross_entropy(self, probs: Tensor, targets: Tensor) -> Tensor:
        """Mean CE over non-ignored pixels; 0 (with graph) when none."""
        per_pixel = F.cross_entropy(
            probs, targets, ignore_index=self.ignore_index, reduction='none')
        num_valid = (targets != self.ignore_index).sum()
        return per_pixel.sum() / num_valid.clamp(min=1)

    @staticmethod
    def _inter_class(fg_probs: Tensor, region: Tensor) -> Tensor:
        """Runner-up suppression.

        Args:
            fg_probs (Tensor): (B, C, H, W) foreground channels.
            region (Tensor): (B, 1, H, W) 0/1 pixels where it applies.

        Returns:
            Tensor: scalar mean of ``V_2nd - sg(V_max)`` over ``region``.
        """
        top2 = fg_probs.topk(2, dim=1).values
        gap = top2[:, 1:2] - top2[:, 0:1].detach()
        return (gap * region).sum() / (region.sum() + EPS)

    def forward(self,
                seg_logits: Tensor,
                pseudo_labels: Tensor,
                labels: Tensor,
                fg_cam: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Compute the weighted terms.

        Args:
            seg_logits (Tensor): (B, C + 1, h, w) logits, background at
                channel 0 (at any resolution).
            pseudo_labels (Tensor): (B, H, W) int64, 0 = background,
                c + 1 = class c, ``ignore_index`` = ignore.
            labels (Tensor): (B, C) multi-hot image labels.
            fg_cam (Tensor, optional): (B, 1, H, W) foreground CAM (max over
                the present classes of the normalised CAMs).

        Returns:
            dict[str, Tensor]: ``<loss_name>_bg``, ``<loss_name>_fg`` and,
            unless skipped, ``<loss_name>_inter``.
        """
        batch_size, num_channels = seg_logits.shape[:2]
        size = tuple(pseudo_labels.shape[1:])
        if seg_logits.dim() != 4 or num_channels < 3 or len(size) != 2 \
                or pseudo_labels.shape[0] != batch_size \
                or tuple(labels.shape) != (batch_size, num_channels - 1):
            raise ValueError(
                f'{type(self).__name__}: expected seg_logits (B, C + 1, h, '
                f'w) with C >= 2, pseudo_labels (B, H, W) and labels (B, C); '
                f'got {tuple(seg_logits.shape)}, '
                f'{tuple(pseudo_labels.shape)} and {tuple(labels.shape)}.')
        probs = F.relu(seg_logits) if self.relu_logits else seg_logits
        if tuple(probs.shape[-2:]) != size:
            probs = F.interpolate(
                probs, size=size, mode='bilinear', align_corners=False)
        num_present = (labels > 0).sum(dim=1)

        background = pseudo_labels == 0
        bg_targets = pseudo_labels.masked_fill(~background, self.ignore_index)
        excluded = background
        if self.fg_single_class_only:
            excluded = excluded | (num_present != 1)[:, None, None]
        fg_targets = pseudo_labels.masked_fill(excluded, self.ignore_index)
        losses = {
            f'{self.loss_name}_bg':
            self.bg_weight * self._cross_entropy(probs, bg_targets),
            f'{self.loss_name}_fg':
            self.fg_weight * self._cross_entropy(probs, fg_targets),
        }
        if self.inter_weight == 0 or fg_cam is None:
            return losses
        if tuple(fg_cam.shape) != (batch_size, 1, *size):
            raise ValueError(
                f'{type(self).__name__}: fg_cam must have shape '
                f'{(batch_size, 1, *size)}, got {tuple(fg_cam.shape)}.')
        multi_class = (num_present > 1)[:, None, None, None]
        region = ((fg_cam > self.inter_cam_thr) & multi_class).to(probs.dtype)
        losses[f'{self.loss_name}_inter'] = self.inter_weight * \
            self._inter_class(probs[:, 1:], region)
        return losses
