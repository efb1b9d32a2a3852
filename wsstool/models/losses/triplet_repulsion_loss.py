"""AEFT repulsion: a triplet-style margin between label-disjoint images."""
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsstool.models.utils.cam_ops import normalize_cam
from wsstool.registry import MODELS

EPS = 1e-5


@MODELS.register_module()
class TripletRepulsionLoss(nn.Module):
    """AEFT repulsion loss in GPP space (AEFT step 5).

    For every image b (label y_b):

    1. ``n = minmax_train(cam) * y`` at feature resolution; the anchor
       region is ``A = [n < low_thr]`` (low activation), the negative region
       ``N = [n < high_thr]`` (everything but the peak). The masks carry no
       gradient.
    2. ``f = pooled_map / (max_hw |pooled_map| + 1e-5)``;
       ``a_b = masked_mean_hw(f, A) * y_b`` and
       ``n_b = masked_mean_hw(f, N) * y_b`` (C-vectors).
    3. With ``j = negative_index[b]`` (an image sharing no class with b),
       ``d_b = sum_c (a_b - n_j)^2``. Anchors with ``j = -1`` are skipped.
    4. Pairs with ``d_b < margin`` are hard. With at least
       ``min_hard_pairs`` of them the loss is
       ``loss_weight * mean_hard relu(margin - d_b)``, otherwise 0.

    The zero is computed from the inputs, so its graph still reaches
    ``pooled_map`` (no unused parameters under DDP), and the hard-pair gate
    runs on the device without a host synchronisation.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 0.15.
        margin (float): Margin M on the squared distance. Defaults to 0.5.
        low_thr (float): Anchor-region threshold. Defaults to 0.2.
        high_thr (float): Negative-region threshold. Defaults to 1.0.
        min_hard_pairs (int): Fewest hard pairs for a non-zero loss; AEFT's
            "more than 4" is 5. Defaults to 5.
    """

    def __init__(self,
                 loss_weight: float = 0.15,
                 margin: float = 0.5,
                 low_thr: float = 0.2,
                 high_thr: float = 1.0,
                 min_hard_pairs: int = 5) -> None:
        super().__init__()
        if min_hard_pairs < 1:
            raise ValueError(
                f'min_hard_pairs must be >= 1, got {min_hard_pairs}.')
        self.loss_weight = loss_weight
        self.margin = margin
        self.low_thr = low_thr
        self.high_thr = high_thr
        self.min_hard_pairs = min_hard_pairs

    @staticmethod
    def _masked_mean(feats: Tensor, mask: Tensor) -> Tensor:
        """(B, C, h, w) maps and 0/1 mask -> (B, C) mean over the mask."""
        return (feats * mask).sum(dim=(2, 3)) / (mask.sum(dim=(2, 3)) + EPS)

    def forward(self, pooled_map: Tensor, cam: Tensor, labels: Tensor,
                negative_index: Tensor) -> Tensor:
        """Compute the weighted loss.

        Args:
            pooled_map (Tensor): (B, C, h, w) GPP maps.
            cam (Tensor): (B, C, h, w) raw CAMs (only used for the masks).
            labels (Tensor): (B, C) multi-hot image labels.
            negative_index (Tensor): (B,) long index of each anchor's
                negative image, -1 when it has none.

        Returns:
            Tensor: scalar loss.
        """
        if pooled_map.dim() != 4 or pooled_map.shape != cam.shape \
                or pooled_map.shape[:2] != labels.shape:
            raise ValueError(
                f'{type(self).__name__}: expected pooled_map and cam '
                f'(B, C, h, w) of equal shape and labels (B, C); got '
                f'{tuple(pooled_map.shape)}, {tuple(cam.shape)} and '
                f'{tuple(labels.shape)}.')
        if negative_index.shape != (pooled_map.shape[0], ) \
                or negative_index.dtype != torch.long:
            raise ValueError(
                f'{type(self).__name__}: negative_index must be a '
                f'({pooled_map.shape[0]},) long tensor, got '
                f'{tuple(negative_index.shape)} {negative_index.dtype}.')
        class_mask = labels[:, :, None, None]
        with torch.no_grad():
            norm_cam = normalize_cam(cam, 'minmax_train') * class_mask
            anchor_region = (norm_cam < self.low_thr).to(pooled_map.dtype)
            negative_region = (norm_cam < self.high_thr).to(pooled_map.dtype)
        feats = pooled_map / (
            pooled_map.abs().amax(dim=(2, 3), keepdim=True) + EPS)
        anchors = self._masked_mean(feats, anchor_region) * labels
        negatives = self._masked_mean(feats, negative_region) * labels

        has_negative = negative_index >= 0
        negatives = negatives[negative_index.clamp(min=0)]
        dist = (anchors - negatives).pow(2).sum(dim=1)
        hard = has_negative & (dist < self.margin)
        num_hard = hard.sum()
        hinges = F.relu(self.margin - dist) * hard
        hinge = hinges.sum() / num_hard.clamp(min=1)
        enough_hard = (num_hard >= self.min_hard_pairs).to(hinge.dtype)
        return self.loss_weight * hinge * enough_hard
