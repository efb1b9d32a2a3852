"""ResNet backbones built from torchvision's ResNet-18/34/50/101: the
torchvision layout (ResNet-B) and mmcls's ResNetV1d (ResNet-D)."""
from typing import List, Optional, Sequence, Tuple

from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor, nn
from torchvision.models import resnet as tv_resnet

from wsstool.registry import MODELS
from ..utils import check_state_dict_shapes, set_bn_eval
from ..utils.state_dict import read_pretrained_state_dict

_ARCHS = {
    18: tv_resnet.resnet18,
    34: tv_resnet.resnet34,
    50: tv_resnet.resnet50,
    101: tv_resnet.resnet101,
}
_STAGES = ('layer1', 'layer2', 'layer3', 'layer4')
# Stages whose first block downsamples (stride 2) in the ImageNet layout.
_DOWNSAMPLING_STAGES = ('layer2', 'layer3', 'layer4')
STEM_INDEX = -1
STEM_CHANNELS = 64


def _deep_stem() -> nn.Sequential:
    """ResNet-D stem: three 3x3 conv-BN-ReLU, 3 -> 32 -> 32 -> 64 channels,
    stride 2 on the first; mmcls names (``{i}.conv``, ``{i}.bn``)."""
    half = STEM_CHANNELS // 2
    specs = ((3, half, 2), (half, half, 1), (half, STEM_CHANNELS, 1))
    return nn.Sequential(*[
        ConvModule(in_channels, out_channels, 3, stride=stride, padding=1,
                   norm_cfg=dict(type='BN'))
        for in_channels, out_channels, stride in specs
    ])


def _configure_stage(stage: nn.Sequential, stride: int,
                     dilations: Sequence[int]) -> None:
    """Set the stride of a stage's first block and the dilation of the 3x3
    convolutions of each block (``dilations[i]`` for block i; padding =
    dilation keeps the spatial size)."""
    first = stage[0]
    if isinstance(first, tv_resnet.Bottleneck):
        first.conv2.stride = (stride, stride)
    else:
        first.conv1.stride = (stride, stride)
    if first.downsample is not None:
        first.downsample[0].stride = (stride, stride)
    for block, dilation in zip(stage, dilations):
        convs = ((block.conv2, ) if isinstance(block, tv_resnet.Bottleneck)
                 else (block.conv1, block.conv2))
        for conv in convs:
            conv.dilation = (dilation, dilation)
            conv.padding = (dilation, dilation)


def _average_down(stage: nn.Sequential, stride: int) -> None:
    """Turn the shortcut of a stage's first block into ResNet-D's
    ``AvgPool(s, s) -> 1x1 conv (stride 1) -> BN``.

    At stride 1 (a dilated stage) the pool is an identity placeholder, so
    the conv and BN keep the mmcls indices ``.1`` and ``.2``.
    """
    conv, bn = stage[0].downsample
    conv.stride = (1, 1)
    pool = (nn.AvgPool2d(stride, stride, ceil_mode=True,
                         count_include_pad=False)
            if stride > 1 else nn.Identity())
    stage[0].downsample = nn.Sequential(pool, conv, bn)


@MODELS.register_module()
class ResNet(BaseModule):
    """torchvision ResNet (v1.5: stride on the 3x3 conv) without avgpool/fc.

    Module and parameter names equal torchvision's (``conv1``, ``bn1``,
    ``layer1`` ... ``layer4``), so a torchvision ImageNet state dict loads
    directly (its ``fc.*`` keys are dropped).

    Stride convention: the stem (7x7/2 conv, or the deep stem's first 3x3/2
    conv, + 3x3/2 max-pool) always gives stride 4, and ``strides`` holds the
    strides of ``layer1`` ... ``layer4``; the output stride is
    ``4 * prod(strides)``. torchvision's network is ``strides=(1, 2, 2, 2)``
    (output stride 32); the IRN CAM network is ``strides=(1, 2, 2, 1)``
    (output stride 16; IRN writes it ``(2, 2, 2, 1)`` because its first
    entry is the stem conv's stride).

    Args:
        depth (int): 18, 34, 50 or 101.
        strides (Sequence[int]): Stride of each of the 4 stages; the
            ``layer1`` stride must be 1 (as in torchvision), which also
            catches IRN-convention strides such as ``(2, 2, 2, 1)``.
        dilations (Sequence[int]): Dilation of every 3x3 conv of each stage.
        out_indices (Sequence[int]): Stages (0 = ``layer1``) whose outputs
            are returned, in this order; their channel counts are in
            ``out_channels``. -1 selects the stem output (after the
            max-pool: 64 channels, stride 4), IRN's ``x1`` feature.
        frozen_stages (int): -1 freezes nothing, 0 the stem (conv1, bn1, or
            the deep stem), k >= 1 the stem and ``layer1`` ... ``layer{k}``.
            Frozen modules have ``requires_grad=False`` and stay in eval mode.
        norm_eval (bool): Keep every BatchNorm in eval mode while training,
            i.e. use and never update the running statistics ("fixed BN").
            Affine parameters stay trainable unless their stage is frozen.
        detach_stages (Sequence[int]): Stages whose output is detached from
            the autograd graph, so that no gradient reaches that stage or any
            before it. IRN detaches the ``layer2`` output: ``(1, )``; in
            effect the same as ``frozen_stages=2`` with ``norm_eval=True``,
            except that the detached stages keep ``requires_grad``.
        init_cfg (dict, optional): ``dict(type='Pretrained',
            checkpoint=PATH, prefix=None)`` loads a torchvision state dict
            (a plain ``{name: tensor}`` file, or one nested under
            ``'state_dict'``, e.g. an mmengine checkpoint); with
            ``prefix='backbone.'`` only the keys starting with it are kept,
            prefix removed, so that a stage-1 classifier checkpoint
            initialises the backbone. Other mmengine init configs are applied
            as usual. Without it the weights keep torchvision's random
            initialisation.
        deep_stem (bool): Replace the 7x7 conv + BN by three 3x3
            conv-BN-ReLU (32, 32, 64 channels, stride 2 on the first),
            the module ``stem`` with mmcls names ``stem.{0,1,2}.conv/.bn``.
        avg_down (bool): ResNet-D shortcuts in ``layer2`` ... ``layer4``:
            ``downsample`` = AvgPool(s, s, ceil_mode, count_include_pad=False)
            + 1x1 conv (stride 1) + BN (mmcls indices ``.0``, ``.1``,
            ``.2``); a stage running at stride 1 (dilated) keeps an identity
            placeholder at ``.0`` so that ImageNet weights still load.
        multi_grid (Sequence[int], optional): One factor per block of
            ``layer4``; block i's 3x3 convs get dilation
            ``dilations[3] * multi_grid[i]`` (the first block included), e.g.
            ``(1, 2, 4)`` with dilation 2 gives 2, 4, 8 (DeepLabV3+).
    """

    #: The naming of the pretrained checkpoints it loads, for errors.
    checkpoint_layout = 'torchvision ResNet'

    def __init__(self,
                 depth: int = 50,
                 strides: Sequence[int] = (1, 2, 2, 1),
                 dilations: Sequence[int] = (1, 1, 1, 1),
                 out_indices: Sequence[int] = (3, ),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 detach_stages: Sequence[int] = (),
                 init_cfg: Optional[dict] = None,
                 deep_stem: bool = False,
                 avg_down: bool = False,
                 multi_grid: Optional[Sequence[int]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if depth not in _ARCHS:
            raise ValueError(f'ResNet depth {depth!r} is not supported; '
                             f'expected one of {sorted(_ARCHS)}.')
        if len(strides) != 4 or len(dilations) != 4:
            raise ValueError(
                'ResNet strides and dilations need one value per stage (4), '
                f'got strides={tuple(strides)}, dilations={tuple(dilations)}.')
        if strides[0] != 1:
            raise ValueError(
                f'ResNet strides={tuple(strides)}: strides are those of '
                'layer1..layer4 after the stride-4 stem, and layer1 must '
                'have stride 1. Output stride 16 (IRN\'s "(2, 2, 2, 1)", '
                'which counts the stem conv first) is strides=(1, 2, 2, 1).')
        if any(i not in range(STEM_INDEX, 4) for i in out_indices):
            raise ValueError(f'ResNet out_indices={tuple(out_indices)}: '
                             'indices must be in -1..3 (-1 = stem, '
                             '0 = layer1).')
        if any(i not in range(4) for i in detach_stages):
            raise ValueError(f'ResNet detach_stages={tuple(detach_stages)}: '
                             'stage indices must be in 0..3 (0 = layer1).')
        if frozen_stages not in range(-1, 5):
            raise ValueError(f'ResNet frozen_stages={frozen_stages}: '
                             'expected -1 (none), 0 (stem) .. 4.')
        self.depth = depth
        self.strides = tuple(strides)
        self.dilations = tuple(dilations)
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.detach_stages = tuple(detach_stages)
        self.deep_stem = deep_stem
        self.avg_down = avg_down
        self.multi_grid = None if multi_grid is None else tuple(multi_grid)

        arch = _ARCHS[depth](weights=None)
        expansion = type(arch.layer1[0]).expansion
        self.out_channels = tuple(
            STEM_CHANNELS if i == STEM_INDEX else 64 * 2**i * expansion
            for i in out_indices)
        if deep_stem:
            self.stem = _deep_stem()
        else:
            self.conv1, self.bn1, self.relu = arch.conv1, arch.bn1, arch.relu
        self.maxpool = arch.maxpool
        stage_dilations = self._block_dilations(
            [len(getattr(arch, name)) for name in _STAGES])
        for name, stride, block_dilations in zip(_STAGES, strides,
                                                 stage_dilations):
            stage = getattr(arch, name)
            _configure_stage(stage, stride, block_dilations)
            if avg_down and name in _DOWNSAMPLING_STAGES:
                _average_down(stage, stride)
            self.add_module(name, stage)
        self._freeze_stages()

    def _block_dilations(self, num_blocks: Sequence[int]) -> List[List[int]]:
        """The 3x3-conv dilation of every block of every stage, given the
        number of blocks per stage."""
        block_dilations = [[dilation] * count
                           for dilation, count in zip(self.dilations,
                                                      num_blocks)]
        if self.multi_grid is not None:
            if len(self.multi_grid) != num_blocks[-1]:
                raise ValueError(
                    f'ResNet-{self.depth} multi_grid={self.multi_grid}: '
                    f'expected one factor per layer4 block '
                    f'({num_blocks[-1]}).')
            block_dilations[-1] = [self.dilations[-1] * factor
                                   for factor in self.multi_grid]
        return block_dilations

    def _stem_modules(self) -> list:
        return [self.stem] if self.deep_stem else [self.conv1, self.bn1]

    def _frozen_modules(self) -> list:
        if self.frozen_stages < 0:
            return []
        stages = [getattr(self, name) for name in _STAGES]
        return self._stem_modules() + stages[:self.frozen_stages]

    def _freeze_stages(self) -> None:
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'ResNet':
        """Set train mode, keeping frozen stages (and BN if ``norm_eval``)
        in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            set_bn_eval(self)
        return self

    def init_weights(self) -> None:
        """Load the checkpoint of a ``Pretrained`` init_cfg, or apply the
        init_cfg the mmengine way."""
        if self.init_cfg is None or self.init_cfg.get('type') != 'Pretrained':
            super().init_weights()
            return
        self.load_torchvision_checkpoint(self.init_cfg['checkpoint'],
                                         self.init_cfg.get('prefix'))
        self._is_init = True

    def load_torchvision_checkpoint(self,
                                    path: str,
                                    prefix: Optional[str] = None) -> None:
        """Load a state dict named like this backbone (torchvision names;
        mmcls names for :class:`ResNetV1d`), dropping ``fc.*``.

        Args:
            path (str): A ``{name: tensor}`` file, or one nested under
                ``'state_dict'`` (mmengine and mmcls checkpoints included).
            prefix (str, optional): Keep only keys starting with it (e.g.
                ``'backbone.'``), with the prefix removed.

        Raises:
            FileNotFoundError: If ``path`` does not exist.
            ValueError: If a tensor's shape differs from the model's.
            KeyError: If ``prefix`` matches no key, or keys are missing or
                unexpected (wrong depth or another checkpoint layout).
        """
        state_dict = read_pretrained_state_dict(path, type(self).__name__,
                                                prefix)
        state_dict = {
            key: value
            for key, value in state_dict.items() if not key.startswith('fc.')
        }
        check_state_dict_shapes(self, state_dict, path)
        missing, unexpected = self.load_state_dict(state_dict, strict=False)
        if missing or unexpected:
            raise KeyError(
                f'Checkpoint {path} does not match a {self.checkpoint_layout}'
                f'-{self.depth}: missing keys {missing}, unexpected '
                f'keys {unexpected}.')

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Compute stage features.

        Args:
            x (Tensor): (B, 3, H, W) normalised images.

        Returns:
            tuple[Tensor]: for each of ``out_indices``, (B, C_i, h_i, w_i)
            with h_i = H / (4 * prod(strides[:i + 1])) (rounded up); the
            stem (-1) gives (B, 64, H / 4, W / 4).
        """
        if self.deep_stem:
            x = self.stem(x)
        else:
            x = self.relu(self.bn1(self.conv1(x)))
        x = self.maxpool(x)
        outs = {STEM_INDEX: x}
        for index, name in enumerate(_STAGES):
            x = getattr(self, name)(x)
            if index in self.detach_stages:
                x = x.detach()
            outs[index] = x
        return tuple(outs[index] for index in self.out_indices)


@MODELS.register_module()
class ResNetV1d(ResNet):
    """ResNet-D (mmcls/mmpretrain ``ResNetV1d``): :class:`ResNet` with
    ``deep_stem=True`` and ``avg_down=True``.

    Module names equal mmcls's (``stem.{0,1,2}.conv/.bn``, ``layerK.i.*``,
    ``downsample.0/.1`` in ``layer1``, ``.1`` conv and ``.2`` BN after the
    pool in ``layer2`` ... ``layer4``), so the mmcls ImageNet checkpoint
    loads with ``init_cfg=dict(type='Pretrained', checkpoint=PATH,
    prefix='backbone.')`` (its ``head.fc.*`` keys are left out by the
    prefix). mmcls's average pool uses ``ceil_mode=True``, which keeps the
    shortcut's size equal to the strided conv's for odd inputs.

    Args:
        **kwargs: The arguments of :class:`ResNet` other than ``deep_stem``
            and ``avg_down``.
    """

    checkpoint_layout = 'mmcls ResNetV1d'

    def __init__(self, **kwargs) -> None:
        super().__init__(deep_stem=True, avg_down=True, **kwargs)
