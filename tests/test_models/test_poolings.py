import math

import numpy as np
import pytest
import torch

from wsstool.models.poolings import (GatedFusion, GatedPyramidPool,
                                     GlobalAvgPool)
from wsstool.registry import MODELS


def _loop_conv3x3(x, weight):
    """3x3 conv, stride 1, zero padding 1, no bias; x (Cin, h, w) and weight
    (Cout, Cin, 3, 3) numpy arrays."""
    cin, h, w = x.shape
    padded = np.zeros((cin, h + 2, w + 2))
    padded[:, 1:-1, 1:-1] = x
    out = np.zeros((weight.shape[0], h, w))
    for o in range(weight.shape[0]):
        for i in range(h):
            for j in range(w):
                out[o, i, j] = np.sum(weight[o] * padded[:, i:i + 3, j:j + 3])
    return out


def _loop_adaptive_avg(x, k):
    """Adaptive average pooling of (C, h, w) to (C, k, k): bin i covers
    [floor(i n / k), ceil((i + 1) n / k))."""
    c, h, w = x.shape
    out = np.zeros((c, k, k))
    for i in range(k):
        r0, r1 = (i * h) // k, -((-(i + 1) * h) // k)
        for j in range(k):
            c0, c1 = (j * w) // k, -((-(j + 1) * w) // k)
            out[:, i, j] = x[:, r0:r1, c0:c1].mean(axis=(1, 2))
    return out


def _source_index(dst, n_in, n_out):
    """Half-pixel bilinear source: two indices and the weight of the
    second."""
    src = max((dst + 0.5) * n_in / n_out - 0.5, 0.0)
    i0 = min(int(math.floor(src)), n_in - 1)
    i1 = min(i0 + 1, n_in - 1)
    return i0, i1, src - i0


def _loop_bilinear(x, h, w):
    """Bilinear resize of (C, k, k) to (C, h, w), align_corners=False."""
    c, kh, kw = x.shape
    out = np.zeros((c, h, w))
    for i in range(h):
        y0, y1, wy = _source_index(i, kh, h)
        for j in range(w):
            x0, x1, wx = _source_index(j, kw, w)
            out[:, i, j] = ((1 - wy) * ((1 - wx) * x[:, y0, x0] +
                                        wx * x[:, y0, x1]) +
                            wy * ((1 - wx) * x[:, y1, x0] + wx * x[:, y1, x1]))
    return out


def _relu(a):
    return np.maximum(a, 0)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _loop_fusion(x, y, w_pos, w_neg):
    """Gated fusion of two (C, h, w) arrays, written per element."""
    p = _sigmoid(_loop_conv3x3(
        np.concatenate([_relu(x), _relu(y)]), w_pos))
    n = _sigmoid(_loop_conv3x3(
        np.concatenate([_relu(-x), _relu(-y)]), w_neg))
    out = np.zeros_like(x)
    for c in range(x.shape[0]):
        out[c] = (_relu(x[c]) * p[0] + _relu(y[c]) * p[1]) / 2 - (
            _relu(-x[c]) * n[0] + _relu(-y[c]) * n[1]) / 2
    return out


def _weights(fusion):
    return (fusion.att_p[0].weight.detach().double().numpy(),
            fusion.att_n[0].weight.detach().double().numpy())


def test_global_avg_pool_is_spatial_mean():
    cam = torch.arange(24, dtype=torch.float32).reshape(1, 2, 3, 4) - 10
    pool = MODELS.build(dict(type='GlobalAvgPool', num_classes=2))
    logits, pooled = pool(cam)
    # channel 0 holds -10..1, channel 1 holds 2..13
    torch.testing.assert_close(logits, torch.tensor([[-4.5, 7.5]]))
    assert pooled is cam


@pytest.mark.parametrize('pool', [GlobalAvgPool(num_classes=3),
                                  GatedPyramidPool(num_classes=3)])
def test_poolings_reject_wrong_class_maps(pool):
    with pytest.raises(ValueError, match=r'expected class maps of shape '
                       r'\(B, 3, h, w\), got \(1, 4, 5, 5\)'):
        pool(torch.zeros(1, 4, 5, 5))
    with pytest.raises(ValueError, match=r'got \(3, 5, 5\)'):
        pool(torch.zeros(3, 5, 5))


def test_global_avg_pool_without_num_classes_accepts_any_channels():
    logits, _ = GlobalAvgPool()(torch.ones(2, 7, 3, 3))
    assert logits.shape == (2, 7)


def test_gated_fusion_matches_loop_formula():
    torch.manual_seed(0)
    fusion = MODELS.build(dict(type='GatedFusion', num_classes=3))
    x, y = torch.randn(2, 1, 3, 4, 5).unbind(0)
    out = fusion(x, y)[0].detach().double().numpy()
    expected = _loop_fusion(x[0].double().numpy(), y[0].double().numpy(),
                            *_weights(fusion))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_gated_fusion_gates_signs_separately():
    """Negative evidence goes only through att_n, positive only through
    att_p: swapping the gates and negating the inputs negates the output."""
    torch.manual_seed(1)
    fusion, swapped = GatedFusion(2), GatedFusion(2)
    swapped.att_p.load_state_dict(fusion.att_n.state_dict())
    swapped.att_n.load_state_dict(fusion.att_p.state_dict())
    x, y = torch.randn(2, 2, 2, 4, 4).unbind(0)
    torch.testing.assert_close(swapped(-x, -y), -fusion(x, y))

    # all-positive inputs: the output ignores att_n and stays positive
    x, y = x.abs() + 0.1, y.abs() + 0.1
    out = fusion(x, y)
    assert (out > 0).all()
    with torch.no_grad():
        fusion.att_n[0].weight.normal_()
    torch.testing.assert_close(fusion(x, y), out)

    # zero positive gate weights give P = 0.5: (relu(x) + relu(y)) / 4
    with torch.no_grad():
        fusion.att_p[0].weight.zero_()
    torch.testing.assert_close(fusion(x, y), (x + y) / 4)


def test_gated_pyramid_pool_matches_independent_loops():
    torch.manual_seed(2)
    pool = MODELS.build(dict(type='GatedPyramidPool', num_classes=3))
    cam = torch.randn(2, 3, 5, 7)
    with torch.no_grad():
        logits, gpp = pool(cam)
    assert logits.shape == (2, 3) and gpp.shape == (2, 3, 5, 7)

    for b in range(2):
        x = cam[b].double().numpy()
        grids = [_loop_bilinear(_loop_adaptive_avg(x, k), 5, 7)
                 for k in (2, 4, 8, 16)]
        fused = _loop_fusion(grids[0], grids[1], *_weights(pool.gconv1))
        fused = _loop_fusion(fused, grids[2], *_weights(pool.gconv2))
        fused = _loop_fusion(fused, grids[3], *_weights(pool.gconv3))
        np.testing.assert_allclose(gpp[b].double().numpy(), fused,
                                   rtol=1e-5, atol=1e-6)
        for c in range(3):
            expected = np.mean(_relu(x[c]) * _relu(fused[c])) - np.mean(
                _relu(-x[c]) * _relu(-fused[c]))
            assert logits[b, c].item() == pytest.approx(expected, abs=1e-6)


def test_gated_pyramid_pool_logits_keep_the_sign():
    """A class map that is negative everywhere gets a negative logit."""
    pool = GatedPyramidPool(num_classes=2, grid_sizes=(1, 2))
    cam = torch.stack([torch.full((4, 4), -2.0), torch.full((4, 4), 3.0)])
    logits, gpp = pool(cam[None])
    assert logits[0, 0] < 0 < logits[0, 1]
    # constant maps: every grid equals the map, the fused map is c * (P0+P1)/2
    p = torch.sigmoid(
        torch.nn.functional.conv2d(
            torch.cat([cam.clamp(min=0), cam.clamp(min=0)])[None],
            pool.gconv1.att_p[0].weight, padding=1))[0]
    torch.testing.assert_close(gpp[0, 1], 3.0 * (p[0] + p[1]) / 2)


def test_gated_pyramid_pool_state_dict_layout():
    pool = GatedPyramidPool(num_classes=20)
    assert {k: tuple(v.shape) for k, v in pool.state_dict().items()} == {
        f'gconv{i}.att_{s}.0.weight': (2, 40, 3, 3)
        for i in (1, 2, 3) for s in 'pn'
    }
    assert isinstance(pool.gconv1.att_p[1], torch.nn.Sigmoid)
    assert pool.gconv1.att_p[0].padding == (1, 1)


def test_gated_pyramid_pool_fusions_follow_grid_sizes():
    pool = GatedPyramidPool(num_classes=2, grid_sizes=(1, 3))
    assert [name for name, _ in pool.named_children()] == ['gconv1']


@pytest.mark.parametrize('grid_sizes', [(4, ), (2, 0), (2, 4.0), (True, 2)])
def test_gated_pyramid_pool_rejects_bad_grids(grid_sizes):
    with pytest.raises(ValueError, match='grid_sizes'):
        GatedPyramidPool(grid_sizes=grid_sizes)


@pytest.mark.parametrize('pool_type', [GlobalAvgPool, GatedPyramidPool])
def test_poolings_reject_bad_num_classes(pool_type):
    with pytest.raises(ValueError, match='num_classes must be .*positive '
                       'integer, got 0'):
        pool_type(num_classes=0)
