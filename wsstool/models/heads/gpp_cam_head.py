"""Two-layer CAM head of AEFT/KTSE (``Net_gpp``) with a pluggable pooling."""
from typing import Dict, NamedTuple, Optional, Sequence, Tuple, Union

import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from wsstool.registry import MODELS


class CAMHeadOutput(NamedTuple):
    """Outputs of a CAM head for a batch of B images and C classes.

    Attributes:
        cam (Tensor): (B, C, h, w) raw foreground class maps (no ReLU).
        logits (Tensor): (B, C) class scores.
        pooled_map (Tensor): (B, C, h, w) map the logits were pooled from
            (the GPP map for ``GatedPyramidPool``, ``cam`` for
            ``GlobalAvgPool``).
        seg (Tensor, optional): (B, C + 1, h, w) all classifier channels,
            background at channel 0, for a head with a background channel;
            else None.
    """
    cam: Tensor
    logits: Tensor
    pooled_map: Tensor
    seg: Optional[Tensor]


@MODELS.register_module()
class GPPCAMHead(BaseModule):
    """CAM head ``fc8`` (1x1, ReLU) -> ``fc9`` (1x1) -> pooling.

    ``fc9`` gives C class maps, or C + 1 with ``with_background`` (KTSE),
    channel 0 being a background map that only segmentation losses use; the
    C foreground maps are pooled into logits. ``bn8`` is not used in the
    forward pass: it exists, frozen (``requires_grad=False``), so that the
    released AEFT/KTSE/KTSE+ state dicts, which contain it, load strictly.

    Args:
        in_channels (int): Channels of the backbone feature. Defaults to
            4096 (ResNet-38d).
        mid_channels (int): Output channels of ``fc8``. Defaults to 256.
        num_classes (int): Foreground classes C. Defaults to 20.
        with_background (bool): Add a background channel 0 to ``fc9``
            (KTSE/KTSE+); AEFT has none. Defaults to False.
        in_index (int): Which backbone output to use. Defaults to -1.
        pooling (dict): Config of the pooling, called as
            ``pooling(cam) -> (logits, pooled_map)``; ``num_classes`` is
            filled in when absent. Defaults to ``GatedPyramidPool``.
        loss_cls (dict): Config of the classification loss, called as
            ``loss(logits, labels)``. The default multilabel soft-margin loss
            (mean over classes) equals the BCE-with-logits mean of AEFT/KTSE.
        init_cfg (dict or list[dict], optional): Defaults to Xavier-uniform
            on ``fc8`` and ``fc9``, as the references; the pooling's gate
            convs keep PyTorch's default init.
    """

    def __init__(self,
                 in_channels: int = 4096,
                 mid_channels: int = 256,
                 num_classes: int = 20,
                 with_background: bool = False,
                 in_index: int = -1,
                 pooling: dict = dict(type='GatedPyramidPool'),
                 loss_cls: dict = dict(
                     type='MultiLabelSoftMarginLoss', loss_weight=1.0),
                 init_cfg: Optional[Union[dict, list]] = dict(
                     type='Xavier',
                     distribution='uniform',
                     override=[dict(name='fc8'),
                               dict(name='fc9')])) -> None:
        super().__init__(init_cfg=init_cfg)
        if not (isinstance(num_classes, int) and num_classes > 0):
            raise ValueError('GPPCAMHead num_classes must be a positive '
                             f'integer, got {num_classes!r}.')
        if not isinstance(with_background, bool):
            raise ValueError('GPPCAMHead with_background must be True or '
                             f'False, got {with_background!r}.')
        pooling = dict(pooling)
        pooling.setdefault('num_classes', num_classes)
        if pooling['num_classes'] != num_classes:
            raise ValueError(
                f'GPPCAMHead num_classes={num_classes} but pooling.num_classes'
                f'={pooling["num_classes"]}; the pooling receives the '
                f'{num_classes} foreground maps.')
        self.in_channels = in_channels
        self.mid_channels = mid_channels
        self.num_classes = num_classes
        self.with_background = with_background
        self.in_index = in_index
        self.fc8 = nn.Conv2d(in_channels, mid_channels, 1, bias=False)
        self.bn8 = nn.BatchNorm2d(mid_channels)
        self.bn8.requires_grad_(False)
        self.fc9 = nn.Conv2d(
            mid_channels, num_classes + int(with_background), 1, bias=False)
        self.pooling = MODELS.build(pooling)
        self.loss_cls = MODELS.build(loss_cls)

    def forward(self, feats: Sequence[Tensor]) -> CAMHeadOutput:
        """Class maps and logits from backbone outputs ((B, in_channels, h, w)
        at ``in_index``); see :class:`CAMHeadOutput`."""
        scores = self.fc9(F.relu(self.fc8(feats[self.in_index])))
        if self.with_background:
            seg, cam = scores, scores[:, 1:]
        else:
            seg, cam = None, scores
        logits, pooled_map = self.pooling(cam)
        return CAMHeadOutput(cam, logits, pooled_map, seg)

    def cam_and_logits(self, feats: Sequence[Tensor]) -> Tuple[Tensor, Tensor]:
        """Raw foreground class maps (B, C, h, w) and logits (B, C)."""
        output = self(feats)
        return output.cam, output.logits

    def loss(self, feats: Sequence[Tensor],
             gt_labels: Tensor) -> Dict[str, Tensor]:
        """Classification loss of the logits against (B, C) multi-hot
        ``gt_labels``; returns ``dict(loss_cls=...)``."""
        return dict(loss_cls=self.loss_cls(self(feats).logits, gt_labels))
