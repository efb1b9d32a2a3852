"""Classification head whose 1x1 conv gives class activation maps."""
from typing import Dict, Optional, Sequence, Tuple, Union

import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from wsstool.registry import MODELS


@MODELS.register_module()
class CAMHead(BaseModule):
    """GAP + bias-free 1x1 conv classifier; the conv applied to the feature
    map (before pooling) gives the CAMs.

    Logits are ``conv(GAP(x))``, which equals ``GAP(conv(x))`` because both
    are linear. CAMs are ``relu(conv(x))``.

    With ``with_background`` the conv gives C + 1 maps, channel 0 being a
    background map (SEAM's ``fc8``) that only the method's own losses read:
    logits, :meth:`cam` and :meth:`cam_and_logits` are those of the C
    foreground channels, :meth:`score_maps` gives all C + 1.

    Args:
        in_channels (int): Channels of the input feature map.
        num_classes (int): Number of foreground classes C.
        in_index (int): Which backbone output to use. Defaults to -1.
        dropout_ratio (float): Channel dropout (``Dropout2d``) on the
            features before pooling, in training only; CAMs never use it
            (PSA: 0.5). Defaults to 0.
        with_background (bool): Add the background channel 0. Defaults to
            False.
        loss_cls (dict): Config of the classification loss, called as
            ``loss(logits, labels)``.
        init_cfg (dict or list[dict], optional): Initialisation of the conv.
            Defaults to Xavier-uniform (as PSA's ``fc8``); ``None`` keeps
            PyTorch's default kaiming-uniform (as IRN's classifier).
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 in_index: int = -1,
                 dropout_ratio: float = 0.0,
                 with_background: bool = False,
                 loss_cls: dict = dict(
                     type='MultiLabelSoftMarginLoss', loss_weight=1.0),
                 init_cfg: Optional[Union[dict, list]] = dict(
                     type='Xavier', layer='Conv2d',
                     distribution='uniform')) -> None:
        super().__init__(init_cfg=init_cfg)
        if not isinstance(with_background, bool):
            raise ValueError('CAMHead with_background must be True or False, '
                             f'got {with_background!r}.')
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.in_index = in_index
        self.with_background = with_background
        self.dropout = nn.Dropout2d(dropout_ratio) if dropout_ratio else None
        self.conv_cls = nn.Conv2d(
            in_channels, num_classes + int(with_background), 1, bias=False)
        self.loss_cls = MODELS.build(loss_cls)

    def pre_logits(self, feats: Sequence[Tensor]) -> Tensor:
        """The classifier input (B, in_channels, h, w): the backbone output
        at ``in_index``, channel-dropped in training."""
        x = feats[self.in_index]
        if self.dropout is not None:
            x = self.dropout(x)
        return x

    def score_maps(self, x: Tensor) -> Tensor:
        """Every classifier channel (B, C (+ 1), h, w) of a
        (B, in_channels, h, w) feature map, background first."""
        return self.conv_cls(x)

    def _foreground(self, maps: Tensor) -> Tensor:
        """The C foreground channels of (B, C (+ 1), ...) classifier
        outputs."""
        return maps[:, 1:] if self.with_background else maps

    def forward(self, feats: Sequence[Tensor]) -> Tensor:
        """Class logits (B, C) from backbone outputs ((B, in_channels, h, w)
        at ``in_index``)."""
        pooled = F.adaptive_avg_pool2d(self.pre_logits(feats), 1)
        return self._foreground(self.conv_cls(pooled)).flatten(1)

    def cam(self, feats: Sequence[Tensor]) -> Tensor:
        """CAMs (B, C, h, w) = relu(conv(features))."""
        return F.relu(self._foreground(self.conv_cls(feats[self.in_index])))

    def cam_and_logits(self, feats: Sequence[Tensor]) -> Tuple[Tensor, Tensor]:
        """Raw class maps (B, C, h, w) = conv(features) and the logits
        (B, C) of :meth:`forward`: the maps read the feature without
        dropout, the logits its channel-dropped copy (in training; one
        dropout draw)."""
        return self._foreground(self.conv_cls(feats[self.in_index])), self(
            feats)

    def loss(self, feats: Sequence[Tensor],
             gt_labels: Tensor) -> Dict[str, Tensor]:
        """Classification loss of the logits against (B, C) multi-hot
        ``gt_labels``; returns ``dict(loss_cls=...)``."""
        return dict(loss_cls=self.loss_cls(self(feats), gt_labels))
