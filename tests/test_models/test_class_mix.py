"""ClassMix utilities of BECO: class drawing, boundary band, pairing and
mixing, checked on hand-made masks and against explicit loops."""
import itertools

import pytest
import torch

from wsstool.models.utils.class_mix import (boundary_band, class_mix,
                                            mix_pair_indices,
                                            random_class_mask)

IGNORE = 255


def _drawn_classes(labels, alpha):
    """Set of classes covered by a (H, W) mask, after checking that the
    mask is exactly the union of the pixels of those classes."""
    drawn = {int(c) for c in labels[alpha].unique()}
    expected = torch.zeros_like(alpha)
    for class_id in drawn:
        expected |= labels == class_id
    assert torch.equal(alpha, expected)
    return drawn


def test_random_class_mask_draws_half_of_the_foreground_classes():
    labels = torch.tensor([[[0, 1, 1, 2], [3, 3, IGNORE, 0]],
                           [[0, 0, 4, 4], [IGNORE, 0, 0, 0]],
                           [[0, 0, 0, 0], [IGNORE, IGNORE, 0, 0]],
                           [[1, 2, 3, 4], [5, 5, 0, IGNORE]]])
    seen = set()
    for seed in range(40):
        torch.manual_seed(seed)
        alpha = random_class_mask(labels, IGNORE, ignore_bg=True)
        assert alpha.shape == labels.shape and alpha.dtype == torch.bool
        first = _drawn_classes(labels[0], alpha[0])
        assert len(first) == 2 and first <= {1, 2, 3}  # ceil(3 / 2)
        seen.add(frozenset(first))
        assert _drawn_classes(labels[1], alpha[1]) == {4}  # ceil(1 / 2)
        assert not alpha[2].any()  # background and ignore only
        last = _drawn_classes(labels[3], alpha[3])
        assert len(last) == 3 and last <= {1, 2, 3, 4, 5}  # ceil(5 / 2)
    # every pair of the three classes of sample 0 gets drawn
    assert seen == {frozenset(p) for p in itertools.combinations({1, 2, 3},
                                                                  2)}


def test_random_class_mask_may_draw_background_without_ignore_bg():
    labels = torch.tensor([[[0, 0, 1, IGNORE]]])
    drawn = set()
    for seed in range(30):
        torch.manual_seed(seed)
        alpha = random_class_mask(labels, IGNORE, ignore_bg=False)
        classes = _drawn_classes(labels[0], alpha[0])
        assert len(classes) == 1 and IGNORE not in classes
        drawn |= classes
    assert drawn == {0, 1}


def test_random_class_mask_is_reproducible_under_a_seed():
    labels = torch.randint(0, 8, (3, 6, 6))
    torch.manual_seed(3)
    first = random_class_mask(labels)
    torch.manual_seed(3)
    assert torch.equal(first, random_class_mask(labels))


def _mask(rows):
    return torch.tensor(rows, dtype=torch.bool)


def test_boundary_band_of_a_small_square_is_its_dilation():
    # a 2x2 square contains no 3x3 window: nothing survives the erosion
    alpha = _mask([[0, 0, 0, 0, 0],
                   [0, 1, 1, 0, 0],
                   [0, 1, 1, 0, 0],
                   [0, 0, 0, 0, 0],
                   [0, 0, 0, 0, 0]])
    expected = _mask([[1, 1, 1, 1, 0],
                      [1, 1, 1, 1, 0],
                      [1, 1, 1, 1, 0],
                      [1, 1, 1, 1, 0],
                      [0, 0, 0, 0, 0]])
    assert torch.equal(boundary_band(alpha[None], 1)[0], expected)


def test_boundary_band_keeps_the_eroded_core_out():
    alpha = _mask([[0, 0, 0, 0, 0],
                   [0, 1, 1, 1, 0],
                   [0, 1, 1, 1, 0],
                   [0, 1, 1, 1, 0],
                   [0, 0, 0, 0, 0]])
    expected = _mask([[1, 1, 1, 1, 1],
                      [1, 1, 1, 1, 1],
                      [1, 1, 0, 1, 1],
                      [1, 1, 1, 1, 1],
                      [1, 1, 1, 1, 1]])
    assert torch.equal(boundary_band(alpha[None], 1)[0], expected)


def test_boundary_band_does_not_erode_at_the_image_border():
    # the left half touches the border: only the inner edge is a boundary
    alpha = _mask([[1, 1, 0, 0]] * 3)
    expected = _mask([[0, 1, 1, 0]] * 3)
    assert torch.equal(boundary_band(alpha[None], 1)[0], expected)


def test_boundary_band_size_two_uses_a_5x5_kernel():
    alpha = torch.zeros(7, 7, dtype=torch.bool)
    alpha[3, 3] = True
    expected = torch.zeros(7, 7, dtype=torch.bool)
    expected[1:6, 1:6] = True
    assert torch.equal(boundary_band(alpha[None], 2)[0], expected)
    assert not boundary_band(alpha[None], 0).any()


@pytest.mark.parametrize('value', [True, False])
def test_boundary_band_of_a_constant_mask_is_empty(value):
    alpha = torch.full((2, 6, 5), value)
    assert not boundary_band(alpha, 1).any()


def _loop_band(alpha, size):
    """Explicit min/max over the in-image k x k neighbourhood."""
    batch, height, width = alpha.shape
    band = torch.zeros_like(alpha)
    for b, i, j in itertools.product(range(batch), range(height),
                                     range(width)):
        window = alpha[b, max(i - size, 0):i + size + 1,
                       max(j - size, 0):j + size + 1]
        band[b, i, j] = bool(window.any()) and not bool(window.all())
    return band


@pytest.mark.parametrize('size', [1, 2])
def test_boundary_band_matches_an_explicit_loop(size):
    torch.manual_seed(0)
    alpha = torch.rand(3, 9, 7) > 0.6
    assert torch.equal(boundary_band(alpha, size), _loop_band(alpha, size))


def test_boundary_band_rejects_a_negative_size():
    with pytest.raises(ValueError, match='boundary_size'):
        boundary_band(torch.ones(1, 2, 2, dtype=torch.bool), -1)


def test_pairs_interleave_both_directions():
    targets, sources = mix_pair_indices(6)
    assert targets.tolist() == [0, 3, 1, 4, 2, 5]
    assert sources.tolist() == [3, 0, 4, 1, 5, 2]
    with pytest.raises(ValueError, match='even'):
        mix_pair_indices(5)


def test_class_mix_pastes_source_pixels_inside_alpha():
    images = torch.arange(2 * 3 * 2 * 2, dtype=torch.float).view(2, 3, 2, 2)
    labels = torch.tensor([[[1, 1], [0, 0]], [[2, 0], [2, 0]]])
    alpha = _mask([[[1, 0], [0, 0]], [[0, 0], [0, 1]]])
    sources = (images.flip(0), labels.flip(0))
    mixed_images, mixed_labels = class_mix((images, labels), sources, alpha)
    for b, i, j in itertools.product(range(2), range(2), range(2)):
        source = 1 - b if alpha[b, i, j] else b
        assert torch.equal(mixed_images[b, :, i, j], images[source, :, i, j])
        assert mixed_labels[b, i, j] == labels[source, i, j]
