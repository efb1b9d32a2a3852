import math

import pytest
import torch
import torch.nn.functional as F

from wsstool.models.heads.affinity_head import AffinityHead
from wsstool.registry import MODELS


def _features(channels, sizes, batch=2):
    gen = torch.Generator().manual_seed(0)
    return [
        torch.randn(batch, c, *size, generator=gen)
        for c, size in zip(channels, sizes)
    ]


def _manual_embedding(head, feats):
    """ELU(f9(concat of ELU(1x1 projections)), each resized to the first
    feature's size), with explicit 1x1 convolutions as matrix products."""
    size = feats[0].shape[-2:]
    parts = []
    for conv, feat in zip((head.f8_3, head.f8_4, head.f8_5), feats):
        weight = conv.weight[:, :, 0, 0]
        x = F.elu(torch.einsum('oc,bchw->bohw', weight, feat))
        if x.shape[-2:] != size:
            x = F.interpolate(x, size=size, mode='bilinear',
                              align_corners=False)
        parts.append(x)
    weight = head.f9.weight[:, :, 0, 0]
    return F.elu(torch.einsum('oc,bchw->bohw', weight, torch.cat(parts, 1)))


def test_resnet38d_channels_keep_the_stride8_grid():
    head = MODELS.build(dict(type='AffinityHead'))
    assert head.in_channels == (512, 1024, 4096)
    feats = _features((512, 1024, 4096), [(5, 7)] * 3)
    out = head(feats)
    assert out.shape == (2, 448, 5, 7)
    torch.testing.assert_close(out, _manual_embedding(head, feats))


def test_multi_stride_features_are_resized_to_the_finest():
    head = AffinityHead(in_channels=(64, 128, 256))
    feats = _features((64, 128, 256), [(16, 12), (8, 6), (4, 3)])
    out = head(feats)
    assert out.shape == (2, 448, 16, 12)
    torch.testing.assert_close(out, _manual_embedding(head, feats))


def test_reference_names_and_no_biases():
    head = AffinityHead(in_channels=(8, 16, 32), channels=(4, 6, 10))
    shapes = {k: tuple(v.shape) for k, v in head.state_dict().items()}
    assert shapes == {
        'f8_3.weight': (4, 8, 1, 1),
        'f8_4.weight': (6, 16, 1, 1),
        'f8_5.weight': (10, 32, 1, 1),
        'f9.weight': (20, 20, 1, 1),
    }
    assert head.out_channels == 20
    assert all(getattr(head, n).bias is None
               for n in ('f8_3', 'f8_4', 'f8_5', 'f9'))


def test_psa_initialisation():
    torch.manual_seed(0)
    head = AffinityHead()
    head.init_weights()
    # Kaiming normal, fan-in, gain sqrt(2): std = sqrt(2 / fan_in).
    for name, fan_in in (('f8_3', 512), ('f8_4', 1024), ('f8_5', 4096)):
        weight = getattr(head, name).weight
        assert weight.std().item() == pytest.approx(
            math.sqrt(2 / fan_in), rel=0.03)
        assert abs(weight.mean().item()) < 0.1 * math.sqrt(2 / fan_in)
    # Xavier uniform, gain 4: U(-b, b), b = 4 sqrt(6 / (448 + 448)).
    bound = 4 * math.sqrt(6 / 896)
    weight = head.f9.weight
    assert weight.abs().max().item() <= bound
    assert weight.abs().max().item() > 0.99 * bound
    assert weight.std().item() == pytest.approx(bound / math.sqrt(3),
                                                rel=0.03)


def test_bad_arguments():
    with pytest.raises(ValueError, match='in_channels'):
        AffinityHead(in_channels=(512, 1024))
    with pytest.raises(ValueError, match='channels'):
        AffinityHead(channels=(64, 0, 256))
    head = AffinityHead(in_channels=(4, 4, 4))
    with pytest.raises(ValueError, match='3 features'):
        head(_features((4, 4), [(2, 2)] * 2))
