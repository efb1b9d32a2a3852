"""PAR: against a per-pixel loop implementation, and its properties."""
import math

import numpy as np
import pytest
import torch

from wsstool.models.refiners import PAR
from wsstool.registry import REFINERS


def _loop_par(image: np.ndarray, mask: np.ndarray, dilations, num_iter: int,
              appearance_scale=0.3, position_scale=0.3,
              position_weight=0.01) -> tuple:
    """PAR pixel by pixel: image (3, H, W), mask (K, H, W) float64.
    Returns the refined mask and the affinities (H, W, N)."""
    _, height, width = image.shape
    offsets = [(d * dy, d * dx) for d in dilations for dy in (-1, 0, 1)
               for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]

    def value(array, y, x):  # replicate padding = clamped coordinates
        return array[:, min(max(y, 0), height - 1),
                     min(max(x, 0), width - 1)]

    radius = np.array([math.sqrt(oy**2 + ox**2) for oy, ox in offsets])
    position = np.exp(-(radius / (radius.std(ddof=1) + 1e-8) /
                        position_scale)**2)
    position /= position.sum()
    aff = np.zeros((height, width, len(offsets)))
    for y in range(height):
        for x in range(width):
            neighbors = np.stack(
                [value(image, y + oy, x + ox) for oy, ox in offsets])
            spread = neighbors.std(axis=0, ddof=1)
            logits = -(np.abs(neighbors - image[:, y, x]) / (spread + 1e-8) /
                       appearance_scale)**2
            weights = np.exp(logits.mean(axis=1))
            aff[y, x] = weights / weights.sum() + position_weight * position
    for _ in range(num_iter):
        refined = np.zeros_like(mask)
        for y in range(height):
            for x in range(width):
                for n, (oy, ox) in enumerate(offsets):
                    refined[:, y, x] += aff[y, x, n] * value(
                        mask, y + oy, x + ox)
        mask = refined
    return mask, aff


def test_matches_loop_implementation():
    rng = np.random.default_rng(0)
    image = rng.random((3, 5, 7))
    mask = rng.random((2, 5, 7))
    expected, _ = _loop_par(image, mask, dilations=(1, 2, 3), num_iter=3)
    par = PAR(dilations=(1, 2, 3), num_iter=3)
    out = par(torch.from_numpy(image)[None].float(),
              torch.from_numpy(mask)[None])
    assert out.shape == (1, 2, 5, 7)
    np.testing.assert_allclose(out[0].numpy(), expected, rtol=1e-5)


def test_affinity_matches_loop_and_rows_sum_to_one_plus_weight():
    rng = np.random.default_rng(1)
    image = rng.random((3, 4, 6))
    _, expected = _loop_par(image, np.zeros((1, 4, 6)), (1, 2, 4, 8, 12, 24),
                            num_iter=0)
    aff = PAR().affinity(torch.from_numpy(image)[None].float())
    assert aff.shape == (1, 48, 4, 6)
    np.testing.assert_allclose(
        aff[0].permute(1, 2, 0).numpy(), expected, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(aff.sum(1).numpy(), 1.01, rtol=1e-6)


def test_constant_image_keeps_a_constant_mask_constant():
    images = torch.full((2, 3, 9, 11), 0.4)
    masks = torch.full((2, 3, 9, 11), 0.25)
    out = PAR(num_iter=4)(images, masks)
    # every weight row sums to 1.01: a constant map only scales
    torch.testing.assert_close(out, torch.full_like(masks, 0.25 * 1.01**4))


def test_mask_spreads_within_a_region_not_across_an_edge():
    images = torch.zeros(1, 3, 12, 12)
    images[..., 6:] = 1.0
    masks = torch.zeros(1, 1, 12, 12)
    masks[..., 4, 2] = 1.0  # a seed in the dark half
    out = PAR(dilations=(1, 2), num_iter=5)(images, masks)[0, 0]
    assert out[:, :6].sum() > 50 * out[:, 6:].sum()


def test_built_from_registry_without_state_and_on_cpu():
    par = REFINERS.build(dict(type='PAR', dilations=(1, 3), num_iter=2))
    assert isinstance(par, PAR) and par.dilations == (1, 3)
    assert len(par.state_dict()) == 0
    out = par(torch.rand(1, 3, 6, 6, dtype=torch.float64),
              torch.rand(1, 2, 6, 6, dtype=torch.float64))
    assert out.dtype == torch.float64 and out.device.type == 'cpu'


@pytest.mark.parametrize('kwargs', [
    dict(dilations=()), dict(dilations=(1, 0)), dict(num_iter=-1),
    dict(appearance_scale=0), dict(position_weight=-0.1)
])
def test_rejects_bad_options(kwargs):
    with pytest.raises(ValueError, match='PAR'):
        PAR(**kwargs)


def test_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r'\(B, K, H, W\)'):
        PAR()(torch.rand(1, 3, 8, 8), torch.rand(1, 2, 8, 7))
