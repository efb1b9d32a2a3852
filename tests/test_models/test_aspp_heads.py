import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from wsstool.models.heads.aspp_v2_head import ASPPV2Head
from wsstool.models.heads.sep_aspp_head import DepthwiseSeparableASPPHead
from wsstool.registry import MODELS


class _Segmentor(BaseModule):
    """Holds a head as a child, as a segmentor does."""

    def __init__(self, decode_head):
        super().__init__()
        self.decode_head = decode_head


def _randomise_bns(module):
    for layer in module.modules():
        if isinstance(layer, _BatchNorm):
            layer.running_mean.uniform_(-0.5, 0.5)
            layer.running_var.uniform_(0.5, 2.0)
            layer.weight.data.uniform_(0.5, 1.5)
            layer.bias.data.uniform_(-0.2, 0.2)


def test_aspp_v2_output_is_sum_of_dilated_convs():
    torch.manual_seed(0)
    head = MODELS.build(dict(type='ASPPV2Head', in_channels=6, num_classes=4,
                             dilations=(1, 2, 3, 5)))
    for conv in head.aspp_modules:
        conv.bias.data.normal_()
    feats = (torch.randn(2, 3, 9, 8), torch.randn(2, 6, 9, 8))
    expected = torch.zeros(2, 4, 9, 8)
    for conv, rate in zip(head.aspp_modules, (1, 2, 3, 5)):
        expected += F.conv2d(feats[1], conv.weight, conv.bias, padding=rate,
                             dilation=rate)
    torch.testing.assert_close(head(feats), expected)
    assert head.num_classes == 4
    assert len(head.aspp_modules) == 4

    head = ASPPV2Head(in_channels=3, num_classes=2, in_index=0)
    assert head(feats).shape == (2, 2, 9, 8)
    with pytest.raises(ValueError, match='dilations'):
        ASPPV2Head(in_channels=3, num_classes=2, dilations=())


def test_aspp_v2_init_through_parent_init_weights():
    torch.manual_seed(0)
    model = _Segmentor(ASPPV2Head(in_channels=128, num_classes=21))
    for conv in model.decode_head.aspp_modules:
        nn.init.constant_(conv.weight, 1.0)
        nn.init.constant_(conv.bias, 1.0)
    model.init_weights()
    weights = torch.cat([c.weight.flatten()
                         for c in model.decode_head.aspp_modules])
    assert weights.numel() == 4 * 21 * 128 * 9
    assert abs(weights.mean().item()) < 3e-4
    assert weights.std().item() == pytest.approx(0.01, rel=0.03)
    for conv in model.decode_head.aspp_modules:
        assert torch.count_nonzero(conv.bias) == 0


def _small_sep_head(**kwargs):
    cfg = dict(in_channels=16, low_level_channels=8, num_classes=5,
               channels=12, low_level_out_channels=4, dilations=(1, 2, 3))
    cfg.update(kwargs)
    return DepthwiseSeparableASPPHead(**cfg)


def _conv_bn_relu(x, block, **conv_args):
    conv, bn = block.conv, block.bn
    x = F.conv2d(x, conv.weight, **conv_args)
    return torch.relu(F.batch_norm(x, bn.running_mean, bn.running_var,
                                   bn.weight, bn.bias, eps=bn.eps))


def _separable(x, block, rate):
    x = _conv_bn_relu(x, block.depthwise_conv, padding=rate, dilation=rate,
                      groups=x.shape[1])
    return _conv_bn_relu(x, block.pointwise_conv)


def test_sep_aspp_matches_functional_computation():
    torch.manual_seed(0)
    head = _small_sep_head().eval()
    _randomise_bns(head)
    head.conv_seg.bias.data.normal_()
    high = torch.randn(2, 16, 4, 5)
    low = torch.randn(2, 8, 15, 18)
    with torch.no_grad():
        out = head((low, torch.randn(2, 3, 1, 1), high))

        pooled = _conv_bn_relu(high.mean(dim=(2, 3), keepdim=True),
                               head.image_pool[1])
        branches = [
            _conv_bn_relu(high, head.aspp_modules[0]),
            _separable(high, head.aspp_modules[1], 2),
            _separable(high, head.aspp_modules[2], 3),
            pooled.repeat(1, 1, 4, 5),
        ]
        aspp = _conv_bn_relu(torch.cat(branches, 1), head.bottleneck)
        aspp = F.interpolate(aspp, size=(15, 18), mode='bilinear',
                             align_corners=False)
        decoded = _separable(
            torch.cat([_conv_bn_relu(low, head.c1_bottleneck), aspp], 1),
            head.sep_bottleneck, 1)
        expected = F.conv2d(decoded, head.conv_seg.weight,
                            head.conv_seg.bias)
    assert out.shape == (2, 5, 15, 18)
    torch.testing.assert_close(out, expected)


def test_sep_aspp_image_pool_branch_is_broadcast():
    torch.manual_seed(0)
    head = _small_sep_head().eval()
    captured = {}

    def keep_input(module, args, output):
        captured['input'] = args[0]

    head.bottleneck.register_forward_hook(keep_input)
    high = torch.randn(1, 16, 6, 7)
    with torch.no_grad():
        head((torch.randn(1, 8, 12, 14), high))
        pooled = head.image_pool(high)
    concat = captured['input']
    assert concat.shape == (1, 4 * 12, 6, 7)
    pool_part = concat[:, 3 * 12:]
    assert pooled.shape == (1, 12, 1, 1)
    for i in range(6):
        for j in range(7):
            torch.testing.assert_close(pool_part[:, :, i, j],
                                       pooled[:, :, 0, 0])


def test_sep_aspp_depthwise_convs_and_widths():
    head = MODELS.build(dict(type='DepthwiseSeparableASPPHead',
                             in_channels=512, low_level_channels=64,
                             num_classes=21))
    assert head.num_classes == 21
    assert isinstance(head.aspp_modules[0].conv, nn.Conv2d)
    assert head.aspp_modules[0].conv.kernel_size == (1, 1)
    for block, rate in zip(head.aspp_modules[1:], (6, 12, 18)):
        depthwise = block.depthwise_conv.conv
        assert depthwise.groups == 512
        assert depthwise.weight.shape == (512, 1, 3, 3)
        assert depthwise.dilation == (rate, rate)
        assert depthwise.padding == (rate, rate)
        assert block.pointwise_conv.conv.weight.shape == (256, 512, 1, 1)
    assert head.bottleneck.conv.weight.shape == (256, 1280, 1, 1)
    assert head.c1_bottleneck.conv.weight.shape == (48, 64, 1, 1)
    sep = head.sep_bottleneck
    assert sep.depthwise_conv.conv.groups == 304
    assert sep.depthwise_conv.conv.weight.shape == (304, 1, 3, 3)
    assert sep.pointwise_conv.conv.weight.shape == (256, 304, 1, 1)
    assert head.conv_seg.weight.shape == (21, 256, 1, 1)
    assert head.conv_seg.bias is not None
    assert isinstance(head.dropout, nn.Dropout) and head.dropout.p == 0.1
    with pytest.raises(ValueError, match='dilations'):
        _small_sep_head(dilations=())


def test_sep_aspp_kaiming_and_bn_init_through_parent():
    torch.manual_seed(0)
    model = _Segmentor(_small_sep_head(in_channels=64, channels=64))
    head = model.decode_head
    _randomise_bns(head)
    head.conv_seg.bias.data.fill_(1.0)
    model.init_weights()
    weight = head.bottleneck.conv.weight  # fan_in = 4 * 64
    assert weight.std().item() == pytest.approx(math.sqrt(2 / 256), rel=0.03)
    depthwise = head.aspp_modules[1].depthwise_conv.conv.weight  # fan_in 9
    assert depthwise.std().item() == pytest.approx(math.sqrt(2 / 9),
                                                   rel=0.15)
    for layer in head.modules():
        if isinstance(layer, _BatchNorm):
            assert torch.all(layer.weight == 1)
            assert torch.all(layer.bias == 0)
    assert torch.count_nonzero(head.conv_seg.bias) == 0


def test_sep_aspp_trains_on_a_batch():
    torch.manual_seed(0)
    head = _small_sep_head().train()
    out = head((torch.randn(2, 8, 8, 8), torch.randn(2, 16, 2, 2)))
    out.mean().backward()
    assert all(p.grad is not None for p in head.parameters())
