"""The self-supervision losses of SEAM (CVPR 2020): adaptive min-pooling,
equivariant regularisation and equivariant cross regularisation."""
import torch.nn.functional as F
from torch import Tensor, nn

from wsstool.registry import MODELS
from ..utils.cam_ops import top_class_map


def _check_ratio(owner: str, name: str, ratio: float) -> None:
    if isinstance(ratio, bool) or not isinstance(
            ratio, (int, float)) or not 0 < ratio <= 1:
        raise ValueError(f'{owner} {name}={ratio!r}; expected a fraction in '
                         '(0, 1].')


def _check_maps(owner: str, **maps: Tensor) -> None:
    for name, value in maps.items():
        if value.dim() != 4:
            raise ValueError(f'{owner}: {name} must be (B, K, h, w) maps, '
                             f'got shape {tuple(value.shape)}.')


def _count(total: int, ratio: float) -> int:
    """``int(total * ratio)``, at least 1."""
    return max(1, int(total * ratio))


def adaptive_min_pooling(maps: Tensor, ratio: float = 0.25) -> Tensor:
    """Mean of the rectified k smallest per-pixel maxima of each image.

    Per image, the maximum over the K channels is taken at every pixel; the
    k = ``int(h * w * ratio)`` (at least 1) smallest of those maxima are
    rectified and summed; the loss is the sum over the batch divided by
    ``k * B``.

    Args:
        maps (Tensor): (B, K, h, w) maps (SEAM: the PCM foreground maps
            times the image labels, at input resolution).
        ratio (float): Fraction of the pixels pooled. Defaults to 0.25.

    Returns:
        Tensor: scalar.
    """
    peak = maps.amax(dim=1).flatten(1)
    k = _count(peak.shape[1], ratio)
    smallest = peak.topk(k, dim=1, largest=False).values
    return F.relu(smallest).sum() / (k * peak.shape[0])


def top_ratio_mean(values: Tensor, ratio: float) -> Tensor:
    """Mean over the batch of the mean of the ``int(n * ratio)`` (at least
    1) largest of the n values of each image.

    Args:
        values (Tensor): (B, ...) values, flattened per image.
        ratio (float): Fraction kept; 1 is the plain mean.

    Returns:
        Tensor: scalar.
    """
    values = values.flatten(1)
    k = _count(values.shape[1], ratio)
    return values.topk(k, dim=1).values.mean()


@MODELS.register_module()
class AdaptiveMinPoolingLoss(nn.Module):
    """SEAM's adaptive min-pooling term (AMP): pushes the least activated
    quarter of the image towards no class at all
    (:func:`adaptive_min_pooling`), times ``loss_weight``.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        ratio (float): Fraction of the pixels pooled. Defaults to 0.25.
        loss_name (str): Key of the term. Defaults to ``'loss_amp'``.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 ratio: float = 0.25,
                 loss_name: str = 'loss_amp') -> None:
        super().__init__()
        _check_ratio(type(self).__name__, 'ratio', ratio)
        self.loss_weight = loss_weight
        self.ratio = ratio
        self.loss_name = loss_name

    def forward(self, maps: Tensor) -> Tensor:
        """Weighted loss of (B, K, h, w) maps (scalar)."""
        _check_maps(type(self).__name__, maps=maps)
        return self.loss_weight * adaptive_min_pooling(maps, self.ratio)


@MODELS.register_module()
class EquivariantRegLoss(nn.Module):
    """Equivariant regularisation L_er: mean absolute difference between
    the class maps of the rescaled image and the rescaled class maps of the
    image, ``loss_weight * mean |maps1 - maps2|`` over all B * K * h * w
    entries.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        loss_name (str): Key of the term. Defaults to ``'loss_er'``.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_er') -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.loss_name = loss_name

    def forward(self, maps1: Tensor, maps2: Tensor) -> Tensor:
        """Weighted loss of two (B, K, h, w) maps of equal shape (scalar);
        the gradient reaches both."""
        _check_maps(type(self).__name__, maps1=maps1, maps2=maps2)
        if maps1.shape != maps2.shape:
            raise ValueError(f'{type(self).__name__}: maps1 '
                             f'{tuple(maps1.shape)} and maps2 '
                             f'{tuple(maps2.shape)} must have equal shapes.')
        return self.loss_weight * (maps1 - maps2).abs().mean()


@MODELS.register_module()
class EquivariantCrossRegLoss(nn.Module):
    """Equivariant cross regularisation L_ecr between the refined maps of
    one view and the class maps of the other.

    The target is built from the other view's normalised foreground class
    maps, without gradient: background ``1 - max`` over the foreground, and
    only the top foreground class kept at each pixel
    (:func:`~wsstool.models.utils.cam_ops.top_class_map`). The
    loss is ``loss_weight * top_ratio_mean(|target - refined|)``: per image
    the mean of the largest ``top_ratio`` fraction of the (1 + C) * h * w
    absolute differences (SEAM: 20%), averaged over the batch
    (:func:`top_ratio_mean`).

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        top_ratio (float): Fraction of the largest differences averaged; 1
            averages all of them. Defaults to 0.2.
        loss_name (str): Key of the term. Defaults to ``'loss_ecr'``.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 top_ratio: float = 0.2,
                 loss_name: str = 'loss_ecr') -> None:
        super().__init__()
        _check_ratio(type(self).__name__, 'top_ratio', top_ratio)
        self.loss_weight = loss_weight
        self.top_ratio = top_ratio
        self.loss_name = loss_name

    def forward(self, target_fg: Tensor, refined: Tensor) -> Tensor:
        """Compute the weighted loss.

        Args:
            target_fg (Tensor): (B, C, h, w) normalised foreground class
                maps of the other view (detached here).
            refined (Tensor): (B, 1 + C, h, w) refined maps, background at
                channel 0.

        Returns:
            Tensor: scalar.
        """
        _check_maps(type(self).__name__, target_fg=target_fg,
                    refined=refined)
        expected = (target_fg.shape[0], target_fg.shape[1] + 1,
                    *target_fg.shape[2:])
        if tuple(refined.shape) != expected:
            raise ValueError(
                f'{type(self).__name__}: refined must have shape {expected} '
                f'(background + the {target_fg.shape[1]} classes of '
                f'target_fg {tuple(target_fg.shape)}), got '
                f'{tuple(refined.shape)}.')
        target = top_class_map(target_fg.detach())
        return self.loss_weight * top_ratio_mean(
            (target - refined).abs(), self.top_ratio)
