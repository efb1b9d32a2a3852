"""ResNet-38d: the wide pre-activation ResNet "A1" (Wu et al., ademxapp)
used as the CAM backbone of PSA, SEAM, AEFT and KTSE."""
import logging
from typing import Optional, Sequence, Tuple

import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModule
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from wsstool.registry import MODELS
from ..utils import check_state_dict_shapes, set_bn_eval
from ..utils.state_dict import read_pretrained_state_dict


class PreActBlock(nn.Module):
    """Pre-activation basic block with two 3x3 convs and no biases.

    ``a = relu(bn_branch2a(x))``; the residual branch is
    ``conv_branch2b1(relu(bn_branch2b1(conv_branch2a(a))))`` and the shortcut
    is ``conv_branch1(a)`` (1x1) when the shape changes, else ``x``.

    Args:
        in_channels (int): Input channels.
        mid_channels (int): Output channels of ``conv_branch2a``.
        out_channels (int): Output channels.
        stride (int): Stride of ``conv_branch2a`` and ``conv_branch1``.
        first_dilation (int): Dilation of ``conv_branch2a``.
        dilation (int): Dilation of ``conv_branch2b1``.
    """

    def __init__(self,
                 in_channels: int,
                 mid_channels: int,
                 out_channels: int,
                 stride: int = 1,
                 first_dilation: int = 1,
                 dilation: int = 1) -> None:
        super().__init__()
        self.bn_branch2a = nn.BatchNorm2d(in_channels)
        self.conv_branch2a = nn.Conv2d(in_channels,
                                       mid_channels,
                                       3,
                                       stride,
                                       padding=first_dilation,
                                       dilation=first_dilation,
                                       bias=False)
        self.bn_branch2b1 = nn.BatchNorm2d(mid_channels)
        self.conv_branch2b1 = nn.Conv2d(mid_channels,
                                        out_channels,
                                        3,
                                        padding=dilation,
                                        dilation=dilation,
                                        bias=False)
        if in_channels != out_channels or stride != 1:
            self.conv_branch1 = nn.Conv2d(in_channels,
                                          out_channels,
                                          1,
                                          stride,
                                          bias=False)
        else:
            self.conv_branch1 = None

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Return the block output (B, out, h', w') and the pre-activated
        input ``relu(bn_branch2a(x))`` (B, in, h, w)."""
        pre_act = F.relu(self.bn_branch2a(x))
        shortcut = x if self.conv_branch1 is None else self.conv_branch1(
            pre_act)
        branch = F.relu(self.bn_branch2b1(self.conv_branch2a(pre_act)))
        return shortcut + self.conv_branch2b1(branch), pre_act


class PreActBottleneck(nn.Module):
    """Pre-activation bottleneck: 1x1 (out/4) -> 3x3 dilated (out/2) ->
    1x1 (out), stride 1, with Dropout2d before the last two convs and a 1x1
    ``conv_branch1`` shortcut on the pre-activated input. No biases.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        dilation (int): Dilation of ``conv_branch2b1``.
        dropout (float): Drop probability of both Dropout2d layers.
    """

    def __init__(self, in_channels: int, out_channels: int, dilation: int,
                 dropout: float) -> None:
        super().__init__()
        quarter, half = out_channels // 4, out_channels // 2
        self.bn_branch2a = nn.BatchNorm2d(in_channels)
        self.conv_branch2a = nn.Conv2d(in_channels, quarter, 1, bias=False)
        self.bn_branch2b1 = nn.BatchNorm2d(quarter)
        self.dropout_2b1 = nn.Dropout2d(dropout)
        self.conv_branch2b1 = nn.Conv2d(quarter,
                                        half,
                                        3,
                                        padding=dilation,
                                        dilation=dilation,
                                        bias=False)
        self.bn_branch2b2 = nn.BatchNorm2d(half)
        self.dropout_2b2 = nn.Dropout2d(dropout)
        self.conv_branch2b2 = nn.Conv2d(half, out_channels, 1, bias=False)
        self.conv_branch1 = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Return the block output (B, out, h, w) and the pre-activated
        input ``relu(bn_branch2a(x))`` (B, in, h, w)."""
        pre_act = F.relu(self.bn_branch2a(x))
        branch = F.relu(self.bn_branch2b1(self.conv_branch2a(pre_act)))
        branch = self.conv_branch2b1(self.dropout_2b1(branch))
        branch = F.relu(self.bn_branch2b2(branch))
        branch = self.conv_branch2b2(self.dropout_2b2(branch))
        return self.conv_branch1(pre_act) + branch, pre_act


# Residual stages b2..b5: block names, (in, mid, out) of the first block,
# (in, mid, out) of the others, stride, first dilation, dilation.
_STAGES = (
    (('b2', 'b2_1', 'b2_2'), (64, 128, 128), (128, 128, 128), 2, 1, 1),
    (('b3', 'b3_1', 'b3_2'), (128, 256, 256), (256, 256, 256), 2, 1, 1),
    (('b4', 'b4_1', 'b4_2', 'b4_3', 'b4_4', 'b4_5'), (256, 512, 512),
     (512, 512, 512), 2, 1, 1),
    (('b5', 'b5_1', 'b5_2'), (512, 512, 1024), (1024, 512, 1024), 1, 1, 2),
)
# Features 0..2 ("conv3", "conv4", "conv5") are the pre-activated inputs of
# these blocks; feature 3 ("conv6") is relu(bn7(b7 output)).
_FEATURE_BLOCKS = ('b4', 'b5', 'b6')
_FEATURE_CHANNELS = (256, 512, 1024, 4096)
_FEATURE_STRIDES = (4, 8, 8, 8)


@MODELS.register_module()
class ResNet38d(BaseModule):
    """ResNet-38d backbone with output stride 8.

    Layout (module names equal the released PSA/AEFT/KTSE state dicts, so
    their backbone keys load strictly): ``conv1a`` 3x3 3->64; basic
    pre-activation stages ``b2`` (stride 2, 128 ch), ``b3`` (stride 2, 256),
    ``b4`` (stride 2, 512, six blocks ``b4``, ``b4_1`` ... ``b4_5``), ``b5``
    (stride 1, 1024, dilation 2 after its first conv); bottlenecks ``b6``
    (1024->2048) and ``b7`` (2048->4096), both dilation 4; then ``bn7``.

    Features, selected by ``out_indices`` (PSA names in quotes):

    * 0 "conv3": relu(bn) input of ``b4``, (B, 256, H/4, W/4).
    * 1 "conv4": relu(bn) input of ``b5``, (B, 512, H/8, W/8).
    * 2 "conv5": relu(bn) input of ``b6``, (B, 1024, H/8, W/8).
    * 3 "conv6": relu(bn7(b7 output)), (B, 4096, H/8, W/8).

    Sizes are rounded up (each stride-2 conv maps n to ceil(n / 2)).

    The defaults reproduce PSA's classifier: ``conv1a`` and the ``b2`` stage
    frozen, every BatchNorm in eval mode with frozen affine parameters,
    dropout 0.3 (b6) and 0.5 (b7); AEFT/KTSE use ``dropouts=(0.2, 0.2)``.

    Args:
        dropouts (Sequence[float]): Dropout2d probabilities of ``b6`` and
            ``b7``.
        out_indices (Sequence[int]): Features (see above) to return, in this
            order; their channels are in ``out_channels``.
        frozen_stages (int): -1 freezes nothing, 0 ``conv1a``, k >= 1
            ``conv1a`` and the stages ``b2`` ... (k = 1: ``b2, b2_1, b2_2``,
            PSA's ``not_training``) up to 4 (through ``b5_2``). Frozen
            modules have ``requires_grad=False`` and stay in eval mode.
        norm_eval (bool): Keep every BatchNorm in eval mode while training
            (use, never update, the running statistics).
        norm_frozen (bool): Set ``requires_grad=False`` on every BatchNorm
            affine parameter, as all ResNet-38d references do.
        init_cfg (dict, optional): ``dict(type='Pretrained',
            checkpoint=PATH, prefix=None)`` loads a converted ImageNet
            state dict (see :meth:`load_pretrained`); other mmengine init
            configs apply as usual.
    """

    def __init__(self,
                 dropouts: Sequence[float] = (0.3, 0.5),
                 out_indices: Sequence[int] = (3, ),
                 frozen_stages: int = 1,
                 norm_eval: bool = True,
                 norm_frozen: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(dropouts) != 2 or any(not 0 <= p < 1 for p in dropouts):
            raise ValueError(
                f'ResNet38d dropouts={tuple(dropouts)}: expected two '
                'probabilities in [0, 1) for b6 and b7.')
        if not out_indices or any(i not in range(4) for i in out_indices):
            raise ValueError(
                f'ResNet38d out_indices={tuple(out_indices)}: expected '
                'feature indices in 0..3 (0 = conv3 ... 3 = conv6).')
        if frozen_stages not in range(-1, len(_STAGES) + 1):
            raise ValueError(
                f'ResNet38d frozen_stages={frozen_stages}: expected -1 '
                f'(none), 0 (conv1a) .. {len(_STAGES)} (through b5).')
        self.dropouts = tuple(dropouts)
        self.out_indices = tuple(out_indices)
        self.out_channels = tuple(_FEATURE_CHANNELS[i] for i in out_indices)
        self.out_strides = tuple(_FEATURE_STRIDES[i] for i in out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.norm_frozen = norm_frozen

        self.conv1a = nn.Conv2d(3, 64, 3, padding=1, bias=False)
        self.block_names = []
        for names, first, rest, stride, first_dilation, dilation in _STAGES:
            for index, name in enumerate(names):
                channels = first if index == 0 else rest
                self.add_module(
                    name,
                    PreActBlock(*channels,
                                stride=stride if index == 0 else 1,
                                first_dilation=(first_dilation
                                                if index == 0 else dilation),
                                dilation=dilation))
                self.block_names.append(name)
        self.b6 = PreActBottleneck(1024, 2048, 4, dropouts[0])
        self.b7 = PreActBottleneck(2048, 4096, 4, dropouts[1])
        self.block_names += ['b6', 'b7']
        self.bn7 = nn.BatchNorm2d(4096)
        self._freeze()

    def _frozen_modules(self) -> list:
        if self.frozen_stages < 0:
            return []
        frozen = [self.conv1a]
        for names, *_ in _STAGES[:self.frozen_stages]:
            frozen += [getattr(self, name) for name in names]
        return frozen

    def _freeze(self) -> None:
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False
        if self.norm_frozen:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.weight.requires_grad = False
                    module.bias.requires_grad = False

    def train(self, mode: bool = True) -> 'ResNet38d':
        """Set train mode, keeping frozen stages (and BN if ``norm_eval``)
        in eval mode."""
        super().train(mode)
        self._freeze()
        if mode and self.norm_eval:
            set_bn_eval(self)
        return self

    def init_weights(self) -> None:
        """Load the checkpoint of a ``Pretrained`` init_cfg, or apply the
        init_cfg the mmengine way."""
        if self.init_cfg is None or self.init_cfg.get('type') != 'Pretrained':
            super().init_weights()
            return
        self.load_pretrained(self.init_cfg['checkpoint'],
                             self.init_cfg.get('prefix'))
        self._is_init = True

    def load_pretrained(self, path: str, prefix: Optional[str] = None) -> None:
        """Load a converted ResNet-38d state dict (``.pth``).

        The converted ademxapp ImageNet weights hold the 191 backbone tensors
        (no ``num_batches_tracked``, which keep their value). Keys the
        backbone does not own (classifier heads of a stage-1 checkpoint) are
        ignored and listed in a warning.

        Args:
            path (str): A ``{name: tensor}`` file, or one nested under
                ``'state_dict'``.
            prefix (str, optional): Keep only keys starting with it (e.g.
                ``'backbone.'``), with the prefix removed.

        Raises:
            FileNotFoundError: If ``path`` does not exist.
            ValueError: If a tensor's shape differs from the backbone's.
            KeyError: If ``prefix`` matches no key, or backbone tensors
                other than ``num_batches_tracked`` are missing.
        """
        state_dict = read_pretrained_state_dict(path, 'ResNet38d', prefix)
        check_state_dict_shapes(self, state_dict, path)
        missing, unexpected = self.load_state_dict(state_dict, strict=False)
        missing = [
            key for key in missing if not key.endswith('num_batches_tracked')
        ]
        if missing:
            raise KeyError(f'Checkpoint {path} is not a ResNet-38d state '
                           f'dict: missing keys {missing}.')
        if unexpected:
            print_log(
                f'ResNet38d: ignored {len(unexpected)} keys of {path} that '
                f'are not backbone parameters: {unexpected}',
                logger='current',
                level=logging.WARNING)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Compute the features of ``out_indices``.

        Args:
            x (Tensor): (B, 3, H, W) normalised RGB images.

        Returns:
            tuple[Tensor]: (B, out_channels[i], ceil(H / s_i), ceil(W / s_i))
            with s_i = ``out_strides[i]`` (4 for conv3, else 8).
        """
        features = []
        x = self.conv1a(x)
        for name in self.block_names:
            x, pre_act = getattr(self, name)(x)
            if name in _FEATURE_BLOCKS:
                features.append(pre_act)
        features.append(F.relu(self.bn7(x)))
        return tuple(features[i] for i in self.out_indices)
