"""Rename the keys of released BECO / KTSE / SSC segmentation checkpoints to
those of wsstool's ``EncoderDecoder`` (``backbone.*``, ``decode_head.*``).

A released checkpoint is ``{'net_state_dict': {'network1': sd,
'network2': sd}}``; each network is a DeepLabV2 (ResNet-B backbone,
``aspp.c{i}`` classifier -> :class:`ASPPV2Head`) or a DeepLabV3+ (ResNet-D
backbone, ``aspp.*``/``projector.*``/``pre_classifier.*``/``classifier.*``
-> :class:`DepthwiseSeparableASPPHead`).
"""
import re
from collections import OrderedDict
from typing import Mapping, Optional

from torch import Tensor

from .unprefixed_keys import strip_data_parallel_prefix

# Index inside a reference ``nn.Sequential`` -> wsstool submodule name.
_CONV_BN = {'0': 'conv', '1': 'bn'}
_SEPARABLE = {
    '0': 'depthwise_conv.conv',
    '1': 'depthwise_conv.bn',
    '3': 'pointwise_conv.conv',
    '4': 'pointwise_conv.bn'
}
_IMAGE_POOL = {'1': 'conv', '2': 'bn'}

_STEM = re.compile(r'backbone\.stem_layer\.(?P<kind>conv|bn)(?P<number>[1-3])')
_LAYER = re.compile(r'backbone\.layer[1-4](\.\w+)+')
_SEPARABLE_BRANCH = re.compile(
    r'aspp\.convs\.(?P<branch>\d+)\.convs\.(?P<index>\d+)')
# (module path pattern, wsstool module path, index table or None)
_HEAD_RULES = (
    (re.compile(r'aspp\.c(?P<branch>\d+)'), 'aspp_modules.{branch}', None),
    (re.compile(r'aspp\.convs\.(?P<branch>\d+)\.(?P<index>\d+)'),
     'aspp_modules.{branch}', _CONV_BN),
    (_SEPARABLE_BRANCH, 'aspp_modules.{branch}', _SEPARABLE),
    (re.compile(r'aspp\.projector\.(?P<index>\d+)'), 'bottleneck', _CONV_BN),
    (re.compile(r'projector\.(?P<index>\d+)'), 'c1_bottleneck', _CONV_BN),
    (re.compile(r'pre_classifier\.convs\.(?P<index>\d+)'), 'sep_bottleneck',
     _SEPARABLE),
    (re.compile(r'classifier'), 'conv_seg', None),
)


def _backbone_module(module: str, deep_stem: bool) -> Optional[str]:
    """wsstool path of a reference backbone module, or None."""
    if _LAYER.fullmatch(module):
        return module
    match = _STEM.fullmatch(module)
    if match is None:
        return None
    kind, number = match['kind'], int(match['number'])
    if deep_stem:
        return f'backbone.stem.{number - 1}.{kind}'
    return f'backbone.{kind}1' if number == 1 else None


def _head_module(module: str, pool_branch: Optional[int]) -> Optional[str]:
    """wsstool path of a reference head module, or None. ``pool_branch`` is
    the index of the ASPP image-pooling branch (the last one)."""
    match = _SEPARABLE_BRANCH.fullmatch(module)
    if match and int(match['branch']) == pool_branch:
        name = _IMAGE_POOL.get(match['index'])
        return None if name is None else f'decode_head.image_pool.1.{name}'
    for pattern, target, table in _HEAD_RULES:
        match = pattern.fullmatch(module)
        if match is None:
            continue
        target = 'decode_head.' + target.format(**match.groupdict())
        if table is None:
            return target
        name = table.get(match['index'])
        return None if name is None else f'{target}.{name}'
    return None


def map_beco_network_keys(
        state_dict: Mapping[str, Tensor]) -> 'OrderedDict[str, Tensor]':
    """Rename one network of a BECO / KTSE / SSC checkpoint for
    ``EncoderDecoder``.

    DeepLabV2: ``backbone.stem_layer.{conv1,bn1}`` -> ``backbone.{conv1,bn1}``;
    ``aspp.c{i}`` -> ``decode_head.aspp_modules.{i}``. DeepLabV3+:
    ``backbone.stem_layer.{conv,bn}{i}`` -> ``backbone.stem.{i-1}.{conv,bn}``;
    ``aspp.convs.0.{0,1}`` -> ``decode_head.aspp_modules.0.{conv,bn}``;
    ``aspp.convs.{k}.convs.{0,1,3,4}`` ->
    ``decode_head.aspp_modules.{k}.{depthwise_conv,pointwise_conv}.{conv,bn}``;
    the last branch ``aspp.convs.{n}.convs.{1,2}`` ->
    ``decode_head.image_pool.1.{conv,bn}``; ``aspp.projector`` ->
    ``bottleneck``, ``projector`` -> ``c1_bottleneck``, ``pre_classifier`` ->
    ``sep_bottleneck``, ``classifier`` -> ``conv_seg``. ``backbone.layer*``
    keys are unchanged (torchvision names; mmcls shortcut indices for
    ResNet-D). The stem type is read from the keys (``stem_layer.conv2``
    means the deep stem), the head from its key names.

    A leading ``module.`` on every key is removed. BatchNorm
    ``num_batches_tracked`` entries are renamed like the other entries of
    their layer; where a checkpoint lacks them, PyTorch's BatchNorm loading
    keeps the model's counter, so strict loading still succeeds.

    Args:
        state_dict (Mapping[str, Tensor]): One network, e.g.
            ``ckpt['net_state_dict']['network1']``.

    Returns:
        OrderedDict[str, Tensor]: The same tensors, in the same order, under
        ``EncoderDecoder`` keys.

    Raises:
        KeyError: Naming every key that matches no rule.
    """
    state_dict = strip_data_parallel_prefix(state_dict)
    deep_stem = 'backbone.stem_layer.conv2.weight' in state_dict
    matches = (_SEPARABLE_BRANCH.fullmatch(key.rpartition('.')[0])
               for key in state_dict)
    pool_branch = max((int(match['branch']) for match in matches if match),
                      default=None)
    mapped = OrderedDict()
    unknown = []
    for key, value in state_dict.items():
        module, _, param = key.rpartition('.')
        if module.startswith('backbone.'):
            target = _backbone_module(module, deep_stem)
        else:
            target = _head_module(module, pool_branch)
        if target is None:
            unknown.append(key)
        else:
            mapped[f'{target}.{param}'] = value
    if unknown:
        raise KeyError(
            f'Cannot map BECO checkpoint keys {unknown} to EncoderDecoder '
            'keys; expected a DeepLabV2 (backbone.stem_layer.conv1/bn1, '
            'backbone.layer*, aspp.c*) or DeepLabV3+ '
            '(backbone.stem_layer.conv1-3/bn1-3, backbone.layer*, '
            'aspp.convs.*, aspp.projector.*, projector.*, pre_classifier.*, '
            'classifier.*) network.')
    return mapped


def is_beco_checkpoint(checkpoint: Mapping) -> bool:
    """Whether ``checkpoint`` is a BECO-style co-training checkpoint:
    ``{'net_state_dict': {'network1': ..., 'network2': ...}, ...}``."""
    if not isinstance(checkpoint, Mapping):
        return False
    networks = checkpoint.get('net_state_dict')
    return (isinstance(networks, Mapping)
            and {'network1', 'network2'} <= networks.keys())
