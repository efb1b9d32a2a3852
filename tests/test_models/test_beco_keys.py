"""BECO / KTSE / SSC network keys (data-and-formats §5.3-5.4), written here
for ResNet-18-sized networks, map one-to-one onto wsstool modules."""
import pytest
import torch
import torchvision
from torch import nn

from wsstool.models.backbones.resnet import ResNet, ResNetV1d
from wsstool.models.heads.aspp_v2_head import ASPPV2Head
from wsstool.models.heads.sep_aspp_head import DepthwiseSeparableASPPHead
from wsstool.models.utils.beco_keys import (is_beco_checkpoint,
                                            map_beco_network_keys)

NUM_CLASSES = 21
HIGH, LOW = 512, 64  # ResNet-18 layer4 / layer1 channels


class _Network(nn.Module):
    """The attribute names of EncoderDecoder."""

    def __init__(self, backbone, decode_head):
        super().__init__()
        self.backbone = backbone
        self.decode_head = decode_head


def _bn(shapes, name, channels):
    for param in ('weight', 'bias', 'running_mean', 'running_var'):
        shapes[f'{name}.{param}'] = (channels, )
    shapes[f'{name}.num_batches_tracked'] = ()


def _torchvision_layer_shapes(shift_downsample):
    """``backbone.layer*`` keys of ResNet-18; with ``shift_downsample`` the
    shortcuts of layer2-4 get mmcls indices (.1 conv, .2 BN)."""
    shapes = {}
    for key, value in torchvision.models.resnet18().state_dict().items():
        if not key.startswith('layer'):
            continue
        if (shift_downsample and '.downsample.' in key
                and not key.startswith('layer1.')):
            stem, index, param = key.rsplit('.', 2)
            key = f'{stem}.{int(index) + 1}.{param}'
        shapes[f'backbone.{key}'] = tuple(value.shape)
    return shapes


def _deeplabv2_shapes():
    """KTSE/SSC DeepLabV2: stem_layer.conv1/bn1, torchvision layers,
    aspp.c{0..3}."""
    shapes = {'backbone.stem_layer.conv1.weight': (64, 3, 7, 7)}
    _bn(shapes, 'backbone.stem_layer.bn1', 64)
    shapes.update(_torchvision_layer_shapes(shift_downsample=False))
    for i in range(4):
        shapes[f'aspp.c{i}.weight'] = (NUM_CLASSES, HIGH, 3, 3)
        shapes[f'aspp.c{i}.bias'] = (NUM_CLASSES, )
    return shapes


def _deeplabv3plus_shapes(channels=256, low_out=48):
    """Official BECO DeepLabV3+: deep stem, mmcls layers, SepASPP and
    decoder."""
    shapes = {}
    for i, (cin, cout) in enumerate(((3, 32), (32, 32), (32, 64)), 1):
        shapes[f'backbone.stem_layer.conv{i}.weight'] = (cout, cin, 3, 3)
        _bn(shapes, f'backbone.stem_layer.bn{i}', cout)
    shapes.update(_torchvision_layer_shapes(shift_downsample=True))
    shapes['aspp.convs.0.0.weight'] = (channels, HIGH, 1, 1)
    _bn(shapes, 'aspp.convs.0.1', channels)
    for i in (1, 2, 3):
        shapes[f'aspp.convs.{i}.convs.0.weight'] = (HIGH, 1, 3, 3)
        _bn(shapes, f'aspp.convs.{i}.convs.1', HIGH)
        shapes[f'aspp.convs.{i}.convs.3.weight'] = (channels, HIGH, 1, 1)
        _bn(shapes, f'aspp.convs.{i}.convs.4', channels)
    shapes['aspp.convs.4.convs.1.weight'] = (channels, HIGH, 1, 1)
    _bn(shapes, 'aspp.convs.4.convs.2', channels)
    shapes['aspp.projector.0.weight'] = (channels, 5 * channels, 1, 1)
    _bn(shapes, 'aspp.projector.1', channels)
    shapes['projector.0.weight'] = (low_out, LOW, 1, 1)
    _bn(shapes, 'projector.1', low_out)
    merged = channels + low_out
    shapes['pre_classifier.convs.0.weight'] = (merged, 1, 3, 3)
    _bn(shapes, 'pre_classifier.convs.1', merged)
    shapes['pre_classifier.convs.3.weight'] = (channels, merged, 1, 1)
    _bn(shapes, 'pre_classifier.convs.4', channels)
    shapes['classifier.weight'] = (NUM_CLASSES, channels, 1, 1)
    shapes['classifier.bias'] = (NUM_CLASSES, )
    return shapes


def _random_state_dict(shapes, counters):
    torch.manual_seed(0)
    state_dict = {}
    for key, shape in shapes.items():
        if key.endswith('num_batches_tracked'):
            if counters:
                state_dict[key] = torch.tensor(11)
        else:
            state_dict[key] = torch.rand(shape) + 0.1
    return state_dict


def _deeplabv2_network():
    return _Network(
        ResNet(depth=18, strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4)),
        ASPPV2Head(in_channels=HIGH, num_classes=NUM_CLASSES))


def _deeplabv3plus_network():
    return _Network(
        ResNetV1d(depth=18, strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2),
                  multi_grid=(1, 2), out_indices=(0, 3)),
        DepthwiseSeparableASPPHead(in_channels=HIGH,
                                   low_level_channels=LOW,
                                   num_classes=NUM_CLASSES))


def _load_and_compare(network, reference):
    mapped = map_beco_network_keys(reference)
    assert len(mapped) == len(reference)
    network.load_state_dict(mapped, strict=True)
    loaded = network.state_dict()
    for value, (key, mapped_value) in zip(reference.values(), mapped.items()):
        assert mapped_value is value
        assert torch.equal(loaded[key], value), key
    return loaded


@pytest.mark.parametrize('counters', [True, False])
def test_deeplabv2_keys_load_strictly(counters):
    reference = _random_state_dict(_deeplabv2_shapes(), counters)
    loaded = _load_and_compare(_deeplabv2_network(), reference)
    assert torch.equal(loaded['backbone.conv1.weight'],
                       reference['backbone.stem_layer.conv1.weight'])
    assert torch.equal(loaded['backbone.bn1.running_var'],
                       reference['backbone.stem_layer.bn1.running_var'])
    assert torch.equal(loaded['decode_head.aspp_modules.3.bias'],
                       reference['aspp.c3.bias'])
    assert torch.equal(
        loaded['backbone.layer3.0.downsample.1.weight'],
        reference['backbone.layer3.0.downsample.1.weight'])
    expected_counter = 11 if counters else 0
    assert loaded['backbone.bn1.num_batches_tracked'] == expected_counter


@pytest.mark.parametrize('counters', [True, False])
def test_deeplabv3plus_keys_load_strictly(counters):
    reference = _random_state_dict(_deeplabv3plus_shapes(), counters)
    loaded = _load_and_compare(_deeplabv3plus_network(), reference)
    pairs = {
        'backbone.stem.2.bn.bias': 'backbone.stem_layer.bn3.bias',
        'backbone.stem.0.conv.weight': 'backbone.stem_layer.conv1.weight',
        'backbone.layer4.0.downsample.2.running_mean':
        'backbone.layer4.0.downsample.2.running_mean',
        'decode_head.aspp_modules.0.bn.weight': 'aspp.convs.0.1.weight',
        'decode_head.aspp_modules.2.depthwise_conv.bn.running_var':
        'aspp.convs.2.convs.1.running_var',
        'decode_head.aspp_modules.3.pointwise_conv.conv.weight':
        'aspp.convs.3.convs.3.weight',
        'decode_head.image_pool.1.conv.weight': 'aspp.convs.4.convs.1.weight',
        'decode_head.image_pool.1.bn.bias': 'aspp.convs.4.convs.2.bias',
        'decode_head.bottleneck.bn.running_mean':
        'aspp.projector.1.running_mean',
        'decode_head.c1_bottleneck.conv.weight': 'projector.0.weight',
        'decode_head.sep_bottleneck.depthwise_conv.conv.weight':
        'pre_classifier.convs.0.weight',
        'decode_head.sep_bottleneck.pointwise_conv.bn.weight':
        'pre_classifier.convs.4.weight',
        'decode_head.conv_seg.bias': 'classifier.bias',
    }
    for ours, theirs in pairs.items():
        assert torch.equal(loaded[ours], reference[theirs]), ours


def test_data_parallel_prefix_is_stripped():
    reference = _random_state_dict(_deeplabv3plus_shapes(), counters=True)
    wrapped = {f'module.{key}': value for key, value in reference.items()}
    assert map_beco_network_keys(wrapped).keys() == map_beco_network_keys(
        reference).keys()


def test_unknown_keys_raise_naming_them():
    reference = _random_state_dict(_deeplabv2_shapes(), counters=True)
    reference['aspp.extra.weight'] = torch.zeros(1)
    reference['backbone.fc.weight'] = torch.zeros(1)
    with pytest.raises(KeyError, match=r"'aspp\.extra\.weight', "
                       r"'backbone\.fc\.weight'"):
        map_beco_network_keys(reference)
    # Without stem_layer.conv2 the stem is the 7x7 one, which has no bn2.
    with pytest.raises(KeyError,
                       match=r"\['backbone\.stem_layer\.bn2\.bias'\]"):
        map_beco_network_keys({
            'backbone.stem_layer.conv1.weight': torch.zeros(1),
            'backbone.stem_layer.bn2.bias': torch.zeros(1)})


def test_is_beco_checkpoint():
    networks = dict(network1={}, network2={})
    assert is_beco_checkpoint(dict(net_state_dict=networks))
    assert is_beco_checkpoint(
        dict(net_state_dict=networks, optim_state_dict={},
             runner_state_dict=dict(epoch=3)))
    assert not is_beco_checkpoint(dict(net_state_dict=dict(network1={})))
    assert not is_beco_checkpoint(dict(state_dict={}, meta={}))
    assert not is_beco_checkpoint(dict(net_state_dict=[1, 2]))
    assert not is_beco_checkpoint({'aspp.c0.weight': torch.zeros(1)})
