"""AffinityNet feature head (PSA): multi-level features -> affinity
embedding."""
from typing import List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from wsstool.registry import MODELS

_PROJECTION_NAMES = ('f8_3', 'f8_4', 'f8_5')
# PSA's init of the 1x1 embedding convs of AffinityNet and SEAM's PCM:
# Kaiming normal (fan-in, gain sqrt(2)) for f8_*, Xavier uniform, gain 4, f9
PSA_EMBEDDING_INIT_CFG = dict(
    type='Kaiming',
    layer='Conv2d',
    mode='fan_in',
    nonlinearity='relu',
    distribution='normal',
    override=dict(name='f9', type='Xavier', gain=4, distribution='uniform'))


@MODELS.register_module()
class AffinityHead(BaseModule):
    """Embedding whose L1 distances give AffinityNet's inter-pixel
    affinities.

    ``f = ELU(f9(concat(ELU(f8_3(x0)), ELU(f8_4(x1)), ELU(f8_5(x2)))))``
    where every layer is a bias-free 1x1 conv. The three projections are
    resized (bilinear, ``align_corners=False``) to the size of the first
    (finest) feature where they differ; with ResNet-38d (conv4, conv5, conv6,
    all stride 8) this never happens, with multi-stride backbones (e.g. a
    ResNet-18 at strides 4/8/16) the output has the finest stride.

    Module names are those of PSA's ``resnet38_aff.Net``, so the head keys
    of released AffinityNet checkpoints load unchanged. The default
    ``init_cfg`` is PSA's: Kaiming normal (fan-in, gain sqrt(2)) for
    ``f8_*``, Xavier uniform with gain 4 for ``f9``.

    Args:
        in_channels (Sequence[int]): Channels of the three input features.
            Defaults to ResNet-38d's conv4, conv5, conv6: (512, 1024, 4096).
        channels (Sequence[int]): Output channels of ``f8_3``, ``f8_4``,
            ``f8_5``; ``f9`` maps their sum to itself. Defaults to
            (64, 128, 256), i.e. a 448-channel embedding.
        init_cfg (dict or list[dict], optional): mmengine init config.
    """

    def __init__(self,
                 in_channels: Sequence[int] = (512, 1024, 4096),
                 channels: Sequence[int] = (64, 128, 256),
                 init_cfg: Optional[Union[dict, List[dict]]] = (
                     PSA_EMBEDDING_INIT_CFG)
                 ) -> None:
        super().__init__(init_cfg=init_cfg)
        for name, value in (('in_channels', in_channels),
                            ('channels', channels)):
            if len(value) != len(_PROJECTION_NAMES) or any(
                    not isinstance(c, int) or c < 1 for c in value):
                raise ValueError(
                    f'AffinityHead {name}={tuple(value)}: expected '
                    f'{len(_PROJECTION_NAMES)} positive integers, one per '
                    f'projection {_PROJECTION_NAMES}.')
        self.in_channels = tuple(in_channels)
        self.channels = tuple(channels)
        self.out_channels = sum(channels)
        for name, in_ch, out_ch in zip(_PROJECTION_NAMES, in_channels,
                                       channels):
            self.add_module(name, nn.Conv2d(in_ch, out_ch, 1, bias=False))
        self.f9 = nn.Conv2d(self.out_channels, self.out_channels, 1,
                            bias=False)

    def forward(self, feats: Sequence[Tensor]) -> Tensor:
        """Affinity embedding of three backbone features.

        Args:
            feats (Sequence[Tensor]): (B, in_channels[i], h_i, w_i), finest
                first.

        Returns:
            Tensor: (B, out_channels, h_0, w_0).
        """
        if len(feats) != len(_PROJECTION_NAMES):
            raise ValueError(
                f'AffinityHead needs {len(_PROJECTION_NAMES)} features '
                f'(one per {_PROJECTION_NAMES}), got {len(feats)}; set the '
                'backbone out_indices accordingly.')
        size = feats[0].shape[-2:]
        projected = []
        for name, feat in zip(_PROJECTION_NAMES, feats):
            x = F.elu(getattr(self, name)(feat))
            if x.shape[-2:] != size:
                x = F.interpolate(
                    x, size=size, mode='bilinear', align_corners=False)
            projected.append(x)
        return F.elu(self.f9(torch.cat(projected, dim=1)))
