import pytest
import torch
import torch.nn.functional as F
from torch import nn

from wsstool.models.heads.irn_branches import (BoundaryBranch,
                                               DisplacementBranch,
                                               upsample_and_crop)
from wsstool.registry import MODELS

R50 = (64, 256, 512, 1024, 2048)
R18 = (64, 64, 128, 256, 512)
# IRN ResNet strides of (stem, layer1, layer2, layer3, layer4).
STRIDES = (4, 4, 8, 16, 16)


def _features(in_channels, height=50, width=37, batch=2):
    """Random features of an H x W image at the IRN strides (sizes rounded
    up per stride-2 step)."""
    torch.manual_seed(0)
    return [
        torch.randn(batch, c, -(-height // s), -(-width // s))
        for c, s in zip(in_channels, STRIDES)
    ]


def _irn_layer(conv_gn, factor):
    """IRN's hard-coded layout: conv, GN, fixed upsampling, ReLU."""
    layers = list(conv_gn)
    if factor > 1:
        layers.append(nn.Upsample(scale_factor=factor, mode='bilinear',
                                  align_corners=False))
    return nn.Sequential(*layers, nn.ReLU())


@pytest.mark.parametrize('in_channels', [R50, R18])
def test_boundary_branch_matches_fixed_factor_layout(in_channels):
    branch = MODELS.build(dict(type='BoundaryBranch',
                               in_channels=in_channels))
    features = _features(in_channels)
    logits = branch(features)
    assert logits.shape == (2, 1, 13, 10)

    size = features[1].shape[-2:]
    maps = [
        _irn_layer(conv, factor)(feature)[..., :size[0], :size[1]]
        for conv, factor, feature in zip(branch.lateral_convs,
                                         (1, 1, 2, 4, 4), features)
    ]
    expected = branch.conv_boundary(torch.cat(maps, dim=1))
    assert torch.allclose(logits, expected, atol=1e-6)
    assert branch.conv_boundary.bias is not None
    assert branch.conv_boundary.in_channels == 160


@pytest.mark.parametrize('in_channels', [R50, R18])
def test_displacement_branch_matches_fixed_factor_layout(in_channels):
    branch = MODELS.build(dict(type='DisplacementBranch',
                               in_channels=in_channels)).train()
    features = _features(in_channels)
    out = branch(features)
    assert out.shape == (2, 2, 13, 10)

    size4, size8 = features[1].shape[-2:], features[2].shape[-2:]
    convs = branch.lateral_convs
    dp1 = _irn_layer(convs[0], 1)(features[0])
    dp2 = _irn_layer(convs[1], 1)(features[1])
    dp3 = _irn_layer(convs[2], 1)(features[2])
    dp4 = _irn_layer(convs[3], 2)(features[3])[..., :size8[0], :size8[1]]
    dp5 = _irn_layer(convs[4], 2)(features[4])[..., :size8[0], :size8[1]]
    dp6 = _irn_layer(branch.deep_fuse, 2)(torch.cat([dp3, dp4, dp5], 1))
    dp6 = dp6[..., :size4[0], :size4[1]]
    fused = _irn_layer(branch.fuse, 1)(torch.cat([dp1, dp2, dp6], 1))
    expected = branch.conv_disp(fused)
    assert torch.allclose(out, expected, atol=1e-6)
    assert branch.conv_disp.bias is None
    assert (branch.deep_fuse[0].in_channels,
            branch.fuse[0].in_channels) == (768, 448)


def test_group_norm_groups():
    boundary = BoundaryBranch(R18)
    displacement = DisplacementBranch(R18)
    assert [conv[1].num_groups for conv in boundary.lateral_convs] == [4] * 5
    assert [conv[1].num_channels
            for conv in boundary.lateral_convs] == [32] * 5
    assert [(conv[1].num_groups, conv[1].num_channels)
            for conv in displacement.lateral_convs] == [
                (8, 64), (16, 128), (16, 256), (16, 256), (16, 256)]
    assert (displacement.deep_fuse[1].num_groups,
            displacement.fuse[1].num_groups) == (16, 16)


def test_mean_shift_is_subtracted_in_eval_only():
    branch = DisplacementBranch(R18)
    assert torch.equal(branch.mean_shift, torch.zeros(2))
    assert 'mean_shift' in branch.state_dict()
    branch.mean_shift.copy_(torch.tensor([0.5, -2.0]))
    features = _features(R18, batch=1)
    with torch.no_grad():
        raw = branch.train()(features)
        shifted = branch.eval()(features)
    assert torch.allclose(shifted[0, 0], raw[0, 0] - 0.5)
    assert torch.allclose(shifted[0, 1], raw[0, 1] + 2.0)


def test_upsample_and_crop_uses_the_stride_ratio():
    x = torch.randn(1, 3, 4, 3)
    # 13 x 10 from 4 x 3 is a stride ratio of 4 (2 would not cover it).
    expected = F.interpolate(x, scale_factor=4, mode='bilinear',
                             align_corners=False)[..., :13, :10]
    assert torch.equal(upsample_and_crop(x, (13, 10)), expected)
    # 7 x 5 from 4 x 3: ratio 2.
    expected = F.interpolate(x, scale_factor=2, mode='bilinear',
                             align_corners=False)[..., :7, :5]
    assert torch.equal(upsample_and_crop(x, (7, 5)), expected)
    assert torch.equal(upsample_and_crop(x, (4, 3)), x)


def test_bad_channels_are_reported():
    with pytest.raises(ValueError, match=r'in_channels=\(64, 64\)'):
        BoundaryBranch((64, 64))
    branch = DisplacementBranch(R18)
    with pytest.raises(ValueError, match=r'channels .*\(64, 256, 512'):
        branch(_features(R50, batch=1))
