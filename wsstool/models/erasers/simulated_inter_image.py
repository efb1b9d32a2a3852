"""Simulated inter-image erasing (KTSE SIE): two images of a shared class
joined into one synthetic image."""
import torch
from torch import Tensor

from wsstool.registry import ERASERS

COMPOSE_DIMS = dict(height=-2, width=-1)


@ERASERS.register_module()
class SimulatedInterImageEraser:
    """Join the first ``num_pairs`` anchors with their partners.

    An inter-image composer, not a :class:`BaseEraser`: the method calls
    :meth:`compose` on every paired tensor it needs (images, CAMs, pseudo
    labels) and :meth:`compose_labels` on the image-level labels. Only the
    first ``n = min(num_pairs, B)`` pairs of the batch are composed.

    Args:
        num_pairs (int): Most pairs composed per batch. Defaults to 4
            (KTSE).
        dim (str): ``'height'`` stacks the partner below the anchor
            (2H x W, as the KTSE code does); ``'width'`` places it on the
            right (H x 2W, as the KTSE paper figure draws it). Defaults to
            ``'height'``.
    """

    def __init__(self, num_pairs: int = 4, dim: str = 'height') -> None:
        is_int = isinstance(num_pairs, int) and not isinstance(
            num_pairs, bool)
        if not is_int or num_pairs < 1:
            raise ValueError(f'num_pairs={num_pairs!r}: expected an integer '
                             '>= 1')
        if dim not in COMPOSE_DIMS:
            raise ValueError(f'dim={dim!r}: expected one of '
                             f'{tuple(COMPOSE_DIMS)}')
        self.num_pairs = num_pairs
        self.dim = dim

    def compose(self, anchor: Tensor, partner: Tensor) -> Tensor:
        """Join anchor and partner tensors into synthetic images.

        Args:
            anchor (Tensor): (B, ..., H, W), e.g. images (B, 3, H, W), CAMs
                (B, C, H, W) or pseudo labels (B, H, W).
            partner (Tensor): Same shape as ``anchor``.

        Returns:
            Tensor: (n, ..., 2H, W) for ``dim='height'`` or (n, ..., H, 2W)
            for ``dim='width'``, with n = min(num_pairs, B); the anchor
            occupies the top (left) half.
        """
        if anchor.dim() < 3:
            raise ValueError(f'compose expects (B, ..., H, W) tensors; got '
                             f'anchor of shape {tuple(anchor.shape)}')
        if anchor.shape != partner.shape:
            raise ValueError(
                f'compose needs anchor and partner of equal shape; got '
                f'{tuple(anchor.shape)} and {tuple(partner.shape)}')
        num = min(self.num_pairs, len(anchor))
        return torch.cat([anchor[:num], partner[:num]],
                         dim=COMPOSE_DIMS[self.dim])

    def compose_labels(self, anchor_labels: Tensor,
                       partner_labels: Tensor) -> Tensor:
        """Image-level labels of the synthetic images.

        Args:
            anchor_labels (Tensor): (B, C) multi-hot labels.
            partner_labels (Tensor): (B, C) multi-hot labels.

        Returns:
            Tensor: (n, C) logical OR of the first n = min(num_pairs, B)
            pairs, in the dtype of ``anchor_labels``.
        """
        if anchor_labels.dim() != 2 or (anchor_labels.shape !=
                                        partner_labels.shape):
            raise ValueError(
                f'compose_labels expects two (B, C) label tensors of equal '
                f'shape; got {tuple(anchor_labels.shape)} and '
                f'{tuple(partner_labels.shape)}')
        num = min(self.num_pairs, len(anchor_labels))
        union = (anchor_labels[:num] > 0) | (partner_labels[:num] > 0)
        return union.to(anchor_labels.dtype)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_pairs={self.num_pairs}, '
                f'dim={self.dim!r})')
