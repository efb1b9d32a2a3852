"""ResNet with discriminative region suppression (DRS), the SSC backbone."""
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsstool.registry import MODELS
from ..utils.cfg_defaults import is_number
from .resnet import ResNet

_NUM_STAGES = 4


def discriminative_region_suppression(x: Tensor, delta: float) -> Tensor:
    """DRS: ``min(relu(x), delta * max_hw relu(x))`` per channel.

    Args:
        x (Tensor): (B, C, H, W) features.
        delta (float): Fraction of each channel's spatial maximum above
            which activations are clipped.

    Returns:
        Tensor: (B, C, H, W) rectified features, clipped at ``delta`` times
        their channel's maximum (the maximum receives gradient too).
    """
    x = F.relu(x)
    return torch.minimum(x, delta * x.amax(dim=(2, 3), keepdim=True))


class DRS(nn.Module):
    """:func:`discriminative_region_suppression` as a module.

    Args:
        delta (float): Suppression ratio in (0, 1]. Defaults to 0.55 (SSC).
    """

    def __init__(self, delta: float = 0.55) -> None:
        super().__init__()
        if not (is_number(delta) and 0 < delta <= 1):
            raise ValueError(f'{type(self).__name__} delta={delta!r}; '
                             'expected a number in (0, 1].')
        self.delta = float(delta)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, H, W) suppressed features."""
        return discriminative_region_suppression(x, self.delta)

    def extra_repr(self) -> str:
        return f'delta={self.delta}'


def _check_stages(stages: Sequence[int], name: str) -> Tuple[int, ...]:
    """``stages`` as a tuple of distinct stage indices in 0..3."""
    stages = tuple(stages)
    if any(s not in range(_NUM_STAGES) for s in stages):
        raise ValueError(f'DRSResNet {name}={stages}: stage indices must be '
                         'in 0..3 (0 = layer1).')
    if len(set(stages)) != len(stages):
        raise ValueError(f'DRSResNet {name}={stages}: repeated stage index '
                         '(DRS twice clips at delta ** 2).')
    return stages


@MODELS.register_module()
class DRSResNet(ResNet):
    """:class:`ResNet` with discriminative region suppression (SSC).

    DRS (:func:`discriminative_region_suppression`, ``delta`` 0.55) is
    applied

    * after every block of the ``block_drs_stages`` (SSC: ``layer4``), in
      place of the block's final ReLU after the residual addition. As that
      ReLU's output is already rectified, suppressing the block output is
      the same computation; it happens in training and inference;
    * to the output of the ``output_drs_stages`` (SSC: ``layer2``, whose
      output the IRN network detaches), in training only unless
      ``output_drs_at_test``. The released SSC code builds its inference
      network without this DRS (its layer4 DRS remains), and its seeds come
      from that network, hence the default ``False``; ``True`` makes
      inference see the training network.

    The :class:`DRS` module (``drs``) has no parameters and is applied by
    forward hooks of the torchvision modules, so every parameter name stays
    torchvision's and ``resnet50-19c8e357.pth`` loads as for
    :class:`ResNet`. Each stage is suppressed at most once (repeated or
    shared stage indices are rejected: DRS twice clips at delta ** 2).

    Args:
        delta (float): Suppression ratio in (0, 1]. Defaults to 0.55.
        block_drs_stages (Sequence[int]): Distinct stages (0 = ``layer1``)
            whose every block output is suppressed. Defaults to ``(3, )``.
        output_drs_stages (Sequence[int]): Distinct stages, none of
            ``block_drs_stages``, whose output is suppressed. Defaults to
            ``(1, )``.
        output_drs_at_test (bool): Also suppress the
            ``output_drs_stages`` outputs in eval mode. Defaults to False
            (the reference's inference network).
        **kwargs: The arguments of :class:`ResNet`.
    """

    def __init__(self,
                 delta: float = 0.55,
                 block_drs_stages: Sequence[int] = (3, ),
                 output_drs_stages: Sequence[int] = (1, ),
                 output_drs_at_test: bool = False,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.drs = DRS(delta)
        self.block_drs_stages = _check_stages(block_drs_stages,
                                              'block_drs_stages')
        self.output_drs_stages = _check_stages(output_drs_stages,
                                               'output_drs_stages')
        both = set(self.block_drs_stages) & set(self.output_drs_stages)
        if both:
            raise ValueError(
                f'DRSResNet stages {sorted(both)} are in both '
                'block_drs_stages and output_drs_stages: their output, the '
                'suppressed output of their last block, would be suppressed '
                'twice (clipped at delta ** 2).')
        if not isinstance(output_drs_at_test, bool):
            raise ValueError('DRSResNet output_drs_at_test must be True or '
                             f'False, got {output_drs_at_test!r}.')
        self.output_drs_at_test = output_drs_at_test
        for index in self.block_drs_stages:
            for block in getattr(self, f'layer{index + 1}'):
                block.register_forward_hook(self._block_drs)
        for index in self.output_drs_stages:
            getattr(self, f'layer{index + 1}').register_forward_hook(
                self._stage_output_drs)

    def _block_drs(self, module: nn.Module, inputs: tuple,
                   output: Tensor) -> Tensor:
        """Forward hook of a block: suppress its (B, C, h, w) output."""
        return self.drs(output)

    def _stage_output_drs(self, module: nn.Module, inputs: tuple,
                          output: Tensor) -> Tensor:
        """Forward hook of a stage: suppress its output in training (and in
        eval mode with ``output_drs_at_test``)."""
        if self.training or self.output_drs_at_test:
            return self.drs(output)
        return output
