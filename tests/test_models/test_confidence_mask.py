"""ConfidenceMask: top fraction of every class by score margin."""
import math

import numpy as np
import pytest
import torch

from wsstool.models.refiners.confidence_mask import (ConfidenceMask,
                                                     score_margin)
from wsstool.registry import REFINERS


def _margin_by_loops(score: np.ndarray, tie_handling: str) -> np.ndarray:
    channels, height, width = score.shape
    margin = np.zeros((height, width))
    for y in range(height):
        for x in range(width):
            values = sorted(score[:, y, x].tolist(), reverse=True)
            if tie_handling == 'exact':
                second = values[1] if channels > 1 else 0.0
            else:
                lower = [v for v in values if v != values[0]]
                second = max(lower + [0.0])
            margin[y, x] = values[0] - second
    return margin


def _mask_by_loops(margin: np.ndarray, label: np.ndarray,
                   ratio: float) -> np.ndarray:
    """Confident pixels: per class, the top floor(n * ratio) by margin,
    earlier raster position first among equal margins."""
    mask = np.zeros(label.shape, bool)
    flat_margin, flat_label = margin.ravel(), label.ravel()
    for value in set(flat_label.tolist()):
        pixels = [i for i in range(flat_label.size)
                  if flat_label[i] == value]
        pixels.sort(key=lambda i: (-flat_margin[i], i))
        for i in pixels[:math.floor(len(pixels) * ratio)]:
            mask.flat[i] = True
    return mask


def _score_and_label(seed: int = 0):
    rng = np.random.default_rng(seed)
    score = rng.random((4, 9, 11)).astype(np.float32)
    score[0] = 0.25
    return score, score.argmax(0)


@pytest.mark.parametrize('ratio', [0.5, 0.3, 1.0, 0.01])
def test_fraction_and_chosen_pixels(ratio):
    score, label = _score_and_label()
    mask = ConfidenceMask(ratio)(score, label)
    assert mask.dtype == bool and mask.shape == label.shape
    for value in np.unique(label):
        count = (label == value).sum()
        assert mask[label == value].sum() == math.floor(count * ratio)
    expected = _mask_by_loops(_margin_by_loops(score, 'exact'), label, ratio)
    np.testing.assert_array_equal(mask, expected)


def test_pseudo_label_need_not_be_the_score_argmax():
    score, _ = _score_and_label(1)
    label = np.random.default_rng(2).integers(0, 3, score.shape[1:])
    mask = REFINERS.build(dict(type='ConfidenceMask', ratio=0.4))(score,
                                                                   label)
    expected = _mask_by_loops(_margin_by_loops(score, 'exact'), label, 0.4)
    np.testing.assert_array_equal(mask, expected)


def test_tensor_in_tensor_out():
    score, label = _score_and_label(3)
    mask = ConfidenceMask(tie_handling='next_lower')(
        torch.from_numpy(score), torch.from_numpy(label))
    assert isinstance(mask, torch.Tensor) and mask.dtype == torch.bool
    expected = _mask_by_loops(_margin_by_loops(score, 'next_lower'), label,
                              0.5)
    np.testing.assert_array_equal(mask.numpy(), expected)


def test_tie_modes_differ_on_a_tie():
    # pixels 0 and 2: two classes tie at 0.6 over 0.25; pixels 1 and 3: a
    # winner by 0.25 and 0.3
    score = np.array([[[0.25, 0.25, 0.25, 0.25]], [[0.6, 0.5, 0.6, 0.55]],
                      [[0.6, 0.1, 0.6, 0.1]]], np.float32)
    np.testing.assert_allclose(
        score_margin(torch.from_numpy(score), 'exact'),
        [[0.0, 0.25, 0.0, 0.3]], atol=1e-6)
    np.testing.assert_allclose(
        score_margin(torch.from_numpy(score), 'next_lower'),
        [[0.35, 0.25, 0.35, 0.3]], atol=1e-6)
    label = np.ones((1, 4), np.int64)
    np.testing.assert_array_equal(
        ConfidenceMask(0.5, 'exact')(score, label),
        [[False, True, False, True]])
    np.testing.assert_array_equal(
        ConfidenceMask(0.5, 'next_lower')(score, label),
        [[True, False, True, False]])


def test_single_channel_margin_is_the_score():
    score = torch.tensor([[[0.25, 0.5, 0.1]]])
    for tie_handling in ('exact', 'next_lower'):
        np.testing.assert_allclose(score_margin(score, tie_handling),
                                   score[0])
    mask = ConfidenceMask(0.5)(score, torch.zeros(1, 3, dtype=torch.long))
    assert mask.tolist() == [[False, True, False]]


def test_equal_margins_keep_raster_order():
    # background only (e.g. an image without foreground): constant margin
    score = torch.full((1, 3, 4), 0.25)
    label = torch.zeros(3, 4, dtype=torch.long)
    label[2] = 5
    mask = ConfidenceMask(0.5)(score, label)
    assert mask.tolist() == [[True, True, True, True], [False] * 4,
                             [True, True, False, False]]


@pytest.mark.parametrize('kwargs,match', [
    (dict(ratio=0), 'ratio'),
    (dict(ratio=1.5), 'ratio'),
    (dict(tie_handling='first'), 'tie_handling'),
])
def test_rejects_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConfidenceMask(**kwargs)


def test_rejects_bad_inputs():
    refiner = ConfidenceMask()
    score, label = _score_and_label()
    with pytest.raises(ValueError, match=r'integer label.*\(9, 10\)'):
        refiner(score, label[:, :10])
    with pytest.raises(ValueError, match='integer label'):
        refiner(score, label.astype(np.float32))
    with pytest.raises(ValueError, match=r'float score \(K \+ 1, H, W\)'):
        refiner(score[0], label)
    with pytest.raises(ValueError, match='float score'):
        refiner(score.astype(np.int64), label)
