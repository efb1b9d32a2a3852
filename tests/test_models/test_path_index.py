"""Search directions, paths, affinities and pair labels of path_index."""
import numpy as np
import pytest
import torch
from PIL import Image

from wsstool.models.utils.path_index import (PathIndex, affinity_pair_labels,
                                             boundary_affinities,
                                             feature_affinities,
                                             search_directions,
                                             subsample_label)


def test_search_directions_counts_and_order():
    assert len(search_directions(10)) == 152
    assert len(search_directions(5)) == 34
    assert search_directions(5)[:7] == [(0, 1), (0, 2), (0, 3), (0, 4),
                                        (1, -4), (1, -3), (1, -2)]
    # non-integer radius: reach 2, (1, +-2) kept (5 < 6.25), (2, +-2) not
    assert search_directions(2.5) == [(0, 1), (0, 2), (1, -2), (1, -1),
                                      (1, 0), (1, 1), (1, 2), (2, -1),
                                      (2, 0), (2, 1)]


def test_search_directions_cover_each_pair_once():
    directions = set(search_directions(5))
    disc = {(y, x) for y in range(-5, 6) for x in range(-5, 6)
            if 0 < y * y + x * x < 25}
    assert directions | {(-y, -x) for y, x in directions} == disc
    assert not directions & {(-y, -x) for y, x in directions}


def test_search_directions_rejects_small_radius():
    with pytest.raises(ValueError, match='radius'):
        search_directions(1)


def test_path_index_paths_by_hand():
    path_index = PathIndex(5)
    assert path_index.margin == 4 and PathIndex(10).margin == 9
    assert path_index.directions.tolist() == [
        list(d) for d in search_directions(5)]
    paths = dict(zip(search_directions(5), path_index.paths))
    assert paths[(0, 3)].tolist() == [[0, 0], [0, 1], [0, 2], [0, 3]]
    # |x - y| <= 1 in the box [0, 3]^2, by progress x + y
    diagonal = paths[(3, 3)].tolist()
    assert diagonal[0] == [0, 0] and diagonal[-1] == [3, 3]
    assert sorted(diagonal) == [[0, 0], [0, 1], [1, 0], [1, 1], [1, 2],
                                [2, 1], [2, 2], [2, 3], [3, 2], [3, 3]]
    # (2x + 3y)^2 / 13 < 1, i.e. |2x + 3y| <= 3, in the box [0, 2] x [-3, 0]
    assert paths[(2, -3)].tolist() == [[0, 0], [1, 0], [0, -1], [1, -1],
                                       [1, -2], [2, -2], [1, -3], [2, -3]]
    for direction, path in paths.items():
        assert path[-1].tolist() == list(direction)


def _affinity_loop(value_of_pair, directions, height, width, margin, region):
    """(D, h', w') by explicit loops over directions and sources;
    ``value_of_pair(src, dst)`` gives a pair's affinity."""
    rows = range(height) if region == 'full' else range(height - margin)
    cols = (range(width) if region == 'full' else range(
        margin, width - margin))
    out = torch.zeros(len(directions), len(rows), len(cols))
    for k, (dy, dx) in enumerate(directions):
        for a, i in enumerate(rows):
            for b, j in enumerate(cols):
                if 0 <= i + dy < height and 0 <= j + dx < width:
                    out[k, a, b] = value_of_pair((i, j), (i + dy, j + dx))
    return out


@pytest.mark.parametrize('region', ['source_crop', 'full'])
def test_boundary_affinities_match_loops(region):
    torch.manual_seed(0)
    path_index = PathIndex(3)
    boundary = torch.rand(2, 6, 9, requires_grad=True)
    out = boundary_affinities(boundary, path_index, region)
    upstream = torch.randn_like(out)
    (out * upstream).sum().backward()

    reference_boundary = boundary.detach().clone().requires_grad_()
    directions = path_index.directions.tolist()
    paths = {tuple(d): p.tolist() for d, p in zip(directions,
                                                  path_index.paths)}
    expected = []
    for image in reference_boundary:

        def affinity(src, dst, image=image):
            (i, j), (y, x) = src, dst
            on_path = [image[i + py, j + px]
                       for py, px in paths[(y - i, x - j)]]
            return 1 - torch.stack(on_path).max()

        expected.append(
            _affinity_loop(affinity, directions, 6, 9, path_index.margin,
                           region))
    expected = torch.stack(expected)
    (expected * upstream).sum().backward()

    shape = (2, 12, 6, 9) if region == 'full' else (2, 12, 4, 5)
    assert out.shape == shape
    torch.testing.assert_close(out, expected.detach())
    torch.testing.assert_close(boundary.grad, reference_boundary.grad)


def test_boundary_affinities_full_is_zero_across_the_border():
    path_index = PathIndex(3)
    out = boundary_affinities(torch.zeros(1, 4, 5), path_index, 'full')
    # direction (0, 2) from column 3 leaves a 5-wide map
    k = path_index.directions.tolist().index([0, 2])
    assert out[0, k, :, :3].eq(1).all() and out[0, k, :, 3:].eq(0).all()
    # direction (2, -2) from row 2 or column 0 leaves the map
    k = path_index.directions.tolist().index([2, -2])
    assert out[0, k, :2, 2:].eq(1).all()
    assert out[0, k, 2:].eq(0).all() and out[0, k, :, :2].eq(0).all()


@pytest.mark.parametrize('region', ['source_crop', 'full'])
def test_feature_affinities_match_loops(region):
    torch.manual_seed(0)
    features = torch.randn(2, 3, 6, 9)
    path_index = PathIndex(3)
    directions = path_index.directions.tolist()
    out = feature_affinities(features, path_index.directions,
                             path_index.margin, region)
    expected = torch.stack([
        _affinity_loop(
            lambda src, dst, f=f: torch.exp(-(f[:, src[0], src[1]] - f[
                :, dst[0], dst[1]]).abs().mean()), directions, 6, 9,
            path_index.margin, region) for f in features
    ])
    torch.testing.assert_close(out, expected)


def test_affinity_pair_labels_by_hand():
    label = torch.tensor([[[0, 0, 1, 1, 255],
                           [0, 2, 1, 255, 0],
                           [0, 0, 0, 0, 0]]])
    directions = torch.tensor(search_directions(2))
    assert directions.tolist() == [[0, 1], [1, -1], [1, 0], [1, 1]]
    bg_pos, fg_pos, neg = affinity_pair_labels(label, directions, margin=1)
    # sources: rows 0-1, columns 1-3
    expected_bg = [[[0, 0, 0], [0, 0, 0]], [[1, 0, 0], [0, 0, 0]],
                   [[0, 0, 0], [0, 0, 0]], [[0, 0, 0], [0, 0, 0]]]
    expected_fg = [[[0, 1, 0], [0, 0, 0]], [[0, 0, 1], [0, 0, 0]],
                   [[0, 1, 0], [0, 0, 0]], [[0, 0, 0], [0, 0, 0]]]
    expected_neg = [[[1, 0, 0], [1, 0, 0]], [[0, 1, 0], [1, 1, 0]],
                    [[1, 0, 0], [1, 1, 0]], [[1, 0, 1], [1, 1, 0]]]
    for got, expected in ((bg_pos, expected_bg), (fg_pos, expected_fg),
                          (neg, expected_neg)):
        assert got.dtype == torch.bool
        assert got[0].int().tolist() == expected


def test_affinity_pair_labels_ignore_index():
    label = torch.tensor([[[0, 0, 1, 1, 255],
                           [0, 2, 1, 255, 0],
                           [0, 0, 0, 0, 0]]])
    directions = torch.tensor(search_directions(2))
    *_, neg = affinity_pair_labels(label, directions, 1, ignore_index=2)
    # class 2 at (1, 1) is now unsure: its 6 negative pairs (4 as the
    # source, 2 as the destination) disappear from the 12
    assert neg[0, :, 1, 0].tolist() == [False] * 4
    assert not neg[0, 1, 0, 1] and not neg[0, 2, 0, 0]
    assert neg.sum() == 6


def test_subsample_label():
    label = torch.arange(100).view(1, 10, 10)
    assert subsample_label(label, 4)[0].tolist() == [[22, 26, 29],
                                                     [62, 66, 69],
                                                     [92, 96, 99]]
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (12, 16), dtype=np.uint8)
    pil = np.asarray(Image.fromarray(image).resize((4, 3), Image.NEAREST))
    ours = subsample_label(torch.from_numpy(image).long()[None], 4)[0]
    assert ours.tolist() == pil.tolist()


def test_errors_name_the_problem():
    path_index = PathIndex(3)
    with pytest.raises(ValueError, match='region'):
        boundary_affinities(torch.rand(1, 6, 9), path_index, 'crop')
    with pytest.raises(ValueError, match=r'boundary must be \(B, H, W\)'):
        boundary_affinities(torch.rand(6, 9), path_index)
    with pytest.raises(ValueError, match='no source pixel'):
        boundary_affinities(torch.rand(1, 6, 4), path_index)
    with pytest.raises(ValueError, match='does not fit in margin 1'):
        feature_affinities(torch.rand(1, 2, 6, 9), path_index.directions, 1)
    with pytest.raises(ValueError, match=r'directions must be \(D, 2\)'):
        affinity_pair_labels(torch.zeros(1, 6, 9, dtype=torch.long),
                             torch.zeros(3, dtype=torch.long), 2)
    with pytest.raises(ValueError, match='stride'):
        subsample_label(torch.zeros(1, 4, 4, dtype=torch.long), 0)
