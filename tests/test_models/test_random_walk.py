"""RandomWalk: sparse and dense walks against each other and by hand."""
import numpy as np
import pytest
import torch

from wsstool.models.refiners.random_walk import (RandomWalk,
                                                 dense_affinity_matrix,
                                                 sparse_transition_matrix)
from wsstool.models.utils.path_index import PathIndex, boundary_affinities
from wsstool.registry import REFINERS


def _random_graph(height, width, seed=0):
    """'full' boundary affinities of PathIndex(5) on a random map."""
    generator = torch.Generator().manual_seed(seed)
    boundary = torch.rand(1, height, width, generator=generator)**3
    path_index = PathIndex(5)
    affinities = boundary_affinities(boundary, path_index, 'full')[0]
    return affinities, path_index.directions


def _loop_affinity_matrix(affinities, directions):
    """A by loops over directions and pixels, float64 numpy."""
    _, height, width = affinities.shape
    matrix = np.eye(height * width)
    for k, (dy, dx) in enumerate(directions.tolist()):
        for i in range(height):
            for j in range(width):
                if 0 <= i + dy < height and 0 <= j + dx < width:
                    p, q = i * width + j, (i + dy) * width + j + dx
                    matrix[p, q] = matrix[q, p] = affinities[k, i, j]
    return matrix


def test_sparse_and_dense_walks_agree():
    affinities, directions = _random_graph(12, 15)
    scores = torch.rand(4, 12, 15, generator=torch.Generator().manual_seed(1))
    sparse = REFINERS.build(dict(type='RandomWalk', beta=10., num_steps=256))
    dense = RandomWalk(beta=10., num_steps=256, mode='dense')
    walked = sparse(scores, affinities, directions)
    reference = dense(scores, affinities, directions)
    assert walked.shape == (4, 12, 15) and walked.dtype == torch.float32
    agreement = (walked.argmax(0) == reference.argmax(0)).float().mean()
    assert agreement >= 0.999
    assert (walked - reference).abs().max() < 1e-3 * reference.abs().max()


@pytest.mark.parametrize('mode', ['sparse', 'dense'])
def test_walk_matches_float64_matrix_power(mode):
    affinities, directions = _random_graph(4, 5, seed=2)
    scores = torch.rand(2, 4, 5, generator=torch.Generator().manual_seed(3))
    transition = _loop_affinity_matrix(affinities, directions)**8
    transition /= transition.sum(0, keepdims=True)
    expected = scores.double().view(2, -1).numpy() @ np.linalg.matrix_power(
        transition, 16)
    walked = RandomWalk(beta=8, num_steps=16, mode=mode)(scores, affinities,
                                                          directions)
    np.testing.assert_allclose(walked.view(2, -1).numpy(), expected,
                               rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('mode', ['sparse', 'dense'])
def test_walk_by_hand_on_a_row(mode):
    # 1 x 3 map, pairs (0, 1) with affinity 1 and (1, 2) with 0.5; beta 2:
    # A^2 = [[1, 1, 0], [1, 1, .25], [0, .25, 1]], column sums 2, 2.25, 1.25
    directions = torch.tensor([[0, 1], [1, 0]])
    affinities = torch.tensor([[[1.0, 0.5, 0.0]], [[0.0, 0.0, 0.0]]])
    scores = torch.tensor([[[1.0, 0.0, 0.0]]])
    one_step = RandomWalk(2, 1, mode)(scores, affinities, directions)
    torch.testing.assert_close(one_step, torch.tensor([[[0.5, 1 / 2.25,
                                                         0.0]]]))
    two_steps = RandomWalk(2, 2, mode)(scores, affinities, directions)
    second = [(0.5 + 1 / 2.25) / 2, (0.5 + 1 / 2.25) / 2.25,
              0.25 / 2.25 / 1.25]
    torch.testing.assert_close(two_steps, torch.tensor([[second]]))


def test_dense_affinity_matrix_matches_loops():
    affinities, directions = _random_graph(3, 4, seed=4)
    np.testing.assert_allclose(
        dense_affinity_matrix(affinities, directions).numpy(),
        _loop_affinity_matrix(affinities, directions), rtol=1e-6)


def test_transition_columns_are_normalised():
    affinities, directions = _random_graph(6, 7, seed=5)
    transition = sparse_transition_matrix(affinities, directions, 10.)
    assert transition.layout == torch.sparse_csr
    with torch.sparse.check_sparse_tensor_invariants():
        torch.sparse_csr_tensor(transition.crow_indices(),
                                transition.col_indices(),
                                transition.values(), transition.shape)
    assert transition.values().numel() <= 42 * (2 * 34 + 1)
    powered = dense_affinity_matrix(affinities, directions).pow(10.)
    # P = T^T: rows of P are the columns of T and sum to 1
    torch.testing.assert_close(transition.to_dense(),
                               (powered / powered.sum(0, keepdim=True)).T)
    torch.testing.assert_close(transition.to_dense().sum(1),
                               torch.ones(42))
    constant = torch.full((1, 6, 7), 0.3)
    torch.testing.assert_close(
        RandomWalk(num_steps=64)(constant, affinities, directions), constant,
        rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('mode', ['sparse', 'dense'])
def test_border_and_zero_affinity_semantics(mode):
    walk = RandomWalk(beta=10., num_steps=32, mode=mode)
    path_index = PathIndex(5)
    directions = path_index.directions
    # a full boundary column splits the map: nothing crosses it
    boundary = torch.zeros(1, 6, 9)
    boundary[..., 4] = 1
    affinities = boundary_affinities(boundary, path_index, 'full')[0]
    scores = torch.zeros(1, 6, 9)
    scores[0, 2, 1] = 1
    walked = walk(scores, affinities, directions)
    assert walked[..., :4].gt(0).all() and walked[..., 4:].eq(0).all()
    # values at destinations outside the map are ignored
    outside = torch.ones_like(affinities, dtype=torch.bool)
    for k, (dy, dx) in enumerate(directions.tolist()):
        outside[k, :6 - dy, max(0, -dx):9 - max(0, dx)] = False
    assert affinities[outside].eq(0).all()
    corrupted = torch.where(outside, 0.7, affinities)
    torch.testing.assert_close(walk(scores, corrupted, directions), walked)
    # an isolated pixel keeps its score
    isolated = torch.zeros(1, 6, 9)
    isolated[0, 3, 6] = 2.0
    torch.testing.assert_close(
        walk(isolated, torch.zeros_like(affinities), directions), isolated)


def test_errors_name_the_problem():
    affinities, directions = _random_graph(4, 5)
    with pytest.raises(ValueError, match='beta must be > 0'):
        RandomWalk(beta=0)
    with pytest.raises(ValueError, match='num_steps must be an int >= 1'):
        RandomWalk(num_steps=0)
    with pytest.raises(ValueError, match='mode'):
        RandomWalk(mode='exact')
    with pytest.raises(ValueError, match='power of 2, got 48'):
        RandomWalk(num_steps=48, mode='dense')
    walk = RandomWalk(num_steps=48)
    with pytest.raises(ValueError, match=r'scores must be \(K, h, w\)'):
        walk(torch.rand(2, 4, 6), affinities, directions)
    with pytest.raises(ValueError, match='34 directions but directions'):
        walk(torch.rand(2, 4, 5), affinities, directions[:3])
    with pytest.raises(ValueError, match=r'affinities must be \(D, h, w\)'):
        walk(torch.rand(2, 4, 5), affinities[None], directions)
    with pytest.raises(ValueError, match='affinities must be >= 0'):
        walk(torch.rand(2, 4, 5), affinities - 1, directions)
