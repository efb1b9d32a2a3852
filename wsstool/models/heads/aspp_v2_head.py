"""DeepLab-v2 ASPP classifier: summed dilated 3x3 convolutions."""
from typing import List, Optional, Sequence, Union

from mmengine.model import BaseModule
from torch import Tensor, nn

from wsstool.registry import MODELS


@MODELS.register_module()
class ASPPV2Head(BaseModule):
    """DeepLab-v2 atrous spatial pyramid pooling used as the classifier.

    One 3x3 conv ``in_channels -> num_classes`` (with bias, padding =
    dilation) per rate; the class scores are the sum of the branches. No BN,
    dropout or image pooling.

    Args:
        in_channels (int): Channels of the input feature map.
        num_classes (int): Number of classes K, background included.
        dilations (Sequence[int]): Dilation (= padding) of each branch.
            Defaults to DeepLab-v2's (6, 12, 18, 24).
        in_index (int): Which backbone output to use. Defaults to -1.
        init_cfg (dict or list[dict], optional): mmengine init config.
            Defaults to DeepLab-v2's: weights N(0, 0.01), biases 0.
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 dilations: Sequence[int] = (6, 12, 18, 24),
                 in_index: int = -1,
                 init_cfg: Optional[Union[dict, List[dict]]] = dict(
                     type='Normal', layer='Conv2d', std=0.01,
                     bias=0)) -> None:
        super().__init__(init_cfg=init_cfg)
        if not dilations:
            raise ValueError('ASPPV2Head needs at least one dilation, got '
                             f'dilations={tuple(dilations)}.')
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.dilations = tuple(dilations)
        self.in_index = in_index
        self.aspp_modules = nn.ModuleList(
            nn.Conv2d(in_channels, num_classes, 3, padding=dilation,
                      dilation=dilation) for dilation in self.dilations)

    def forward(self, feats: Sequence[Tensor]) -> Tensor:
        """Class scores (B, num_classes, h, w) of the backbone output
        (B, in_channels, h, w) at ``in_index``, before softmax."""
        x = feats[self.in_index]
        return sum(conv(x) for conv in self.aspp_modules)
