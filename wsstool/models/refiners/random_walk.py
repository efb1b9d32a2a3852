"""Random walk of class scores over an inter-pixel affinity graph.

The graph has one node per pixel of an h x w map (N = h * w, flat index
i * w + j) and the edges of the per-direction affinities of
:mod:`wsstool.models.utils.path_index` (``'full'`` region): pixel p and
p + directions[k] are joined with weight ``affinities[k, p]``; destinations
outside the map have no edge. A is that symmetric matrix with a unit
diagonal, T = A^beta (element-wise) normalised so that every column sums to
1, and the walk applies x <- x T ``num_steps`` times to the (K, N) scores.

* ``'sparse'``: the row-stochastic P = T^T = D^-1 A^beta (A is symmetric)
  as a sparse CSR matrix with at most 2D + 1 entries per row, applied
  ``num_steps`` times: memory O(N (2D + 1)), cost num_steps (2D + 1) K N.
* ``'dense'``: the reference computation (IRN, AffinityNet): the dense N x N
  T squared log2(num_steps) times, then x T. Memory O(N^2), cost
  2 N^3 per squaring.

Both are equal in exact arithmetic; float32 results differ by rounding.
"""
import math
import warnings
from typing import Tuple

import torch
from torch import Tensor

from wsstool.models.utils.path_index import destination_inside
from wsstool.registry import REFINERS

WALK_MODES = ('sparse', 'dense')


def _check_graph(affinities: Tensor, directions: Tensor) -> None:
    if affinities.dim() != 3:
        raise ValueError(f'affinities must be (D, h, w), got '
                         f'{tuple(affinities.shape)}.')
    if directions.dim() != 2 or directions.shape[1] != 2:
        raise ValueError(f'directions must be (D, 2), got '
                         f'{tuple(directions.shape)}.')
    if len(directions) != len(affinities):
        raise ValueError(
            f'affinities has {len(affinities)} directions but directions '
            f'has {len(directions)}.')


def neighbourhood(affinities: Tensor,
                  directions: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """Row p of the affinity matrix A in a fixed layout of M = 2D + 1 slots.

    Node p = i * w + j is joined to p + d with ``affinities[k, p]`` and to
    p - d with ``affinities[k, p - d]``. Slots are ordered by flat offset
    (that of p - d, 0 for p itself, that of p + d), so the valid slots of a
    row have increasing columns.

    Args:
        affinities (Tensor): (D, h, w) affinity of (i, j) with
            (i, j) + directions[k].
        directions (Tensor): (D, 2) offsets (dy, dx).

    Returns:
        tuple[Tensor]: (N, M) int64 columns, (N, M) affinities (1 on the
        diagonal) and (N, M) bool validity (the neighbour lies in the map),
        on the device of ``affinities``.
    """
    _check_graph(affinities, directions)
    _, height, width = affinities.shape
    num_nodes = height * width
    directions = directions.to(affinities.device)
    shift = directions[:, 0] * width + directions[:, 1]
    ahead = destination_inside(directions, height, width).flatten(1)
    behind = destination_inside(-directions, height, width).flatten(1)
    forward = affinities.flatten(1).where(ahead, 0)
    nodes = torch.arange(num_nodes, device=affinities.device)
    sources = (nodes - shift[:, None]).clamp(0, num_nodes - 1)
    backward = forward.gather(1, sources).where(behind, 0)
    offsets = torch.cat([-shift, shift.new_zeros(1), shift])
    order = torch.argsort(offsets)
    weights = torch.cat([backward, torch.ones_like(forward[:1]), forward])
    valid = torch.cat([behind, torch.ones_like(ahead[:1]), ahead])
    columns = nodes[:, None] + offsets[order]
    return columns, weights[order].T, valid[order].T


def dense_affinity_matrix(affinities: Tensor, directions: Tensor) -> Tensor:
    """Symmetric (N, N) affinity matrix with a unit diagonal.

    Args:
        affinities (Tensor): (D, h, w) per-direction affinities.
        directions (Tensor): (D, 2) offsets (dy, dx).

    Returns:
        Tensor: (h * w, h * w) A with A[p, q] = A[q, p] = the affinity of
        the pair (p, q), 1 on the diagonal, 0 for pixels out of reach.
    """
    columns, weights, valid = neighbourhood(affinities, directions)
    num_nodes = len(columns)
    rows = torch.arange(num_nodes, device=columns.device)[:, None]
    matrix = affinities.new_zeros(num_nodes, num_nodes)
    matrix[rows.expand_as(columns)[valid], columns[valid]] = weights[valid]
    return matrix


def sparse_transition_matrix(affinities: Tensor, directions: Tensor,
                             beta: float) -> Tensor:
    """Row-stochastic P = T^T = D^-1 A^beta as a sparse CSR (N, N) matrix.

    A is :func:`dense_affinity_matrix` (never built densely) and
    D = diag(sum_q A[p, q]^beta). Since A is symmetric, P is the transpose
    of the column-normalised T of the dense walk, so x T = (P x^T)^T.
    """
    columns, weights, valid = neighbourhood(affinities, directions)
    weights = weights.pow(beta)
    weights /= weights.sum(dim=1, keepdim=True)
    row_starts = valid.sum(dim=1).cumsum(0)
    row_starts = torch.cat([row_starts.new_zeros(1), row_starts])
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='Sparse CSR tensor support')
        return torch.sparse_csr_tensor(
            row_starts, columns[valid], weights[valid],
            (len(columns), len(columns)), check_invariants=False)


@REFINERS.register_module()
class RandomWalk:
    """Propagate class scores along inter-pixel affinities (IRN, PSA).

    Args:
        beta (float): Exponent applied to the affinities (IRN 10, PSA 8).
        num_steps (int): Walk length (IRN/PSA 256, SEAM/AEFT/PPC 64).
        mode (str): ``'sparse'`` (default: iterated sparse products, never
            an N x N matrix) or ``'dense'`` (the reference's dense matrix
            squared log2(num_steps) times; ``num_steps`` must be a power of
            2). See the module docstring.

    Examples:
        >>> walk = RandomWalk(beta=10, num_steps=256)
        >>> path_index = PathIndex(radius=5)
        >>> aff = boundary_affinities(boundary[None], path_index, 'full')[0]
        >>> scores = walk(cams * (1 - boundary), aff, path_index.directions)
    """

    def __init__(self,
                 beta: float = 10.,
                 num_steps: int = 256,
                 mode: str = 'sparse') -> None:
        if not beta > 0:
            raise ValueError(f'RandomWalk beta must be > 0, got {beta!r}.')
        if not isinstance(num_steps, int) or num_steps < 1:
            raise ValueError(f'RandomWalk num_steps must be an int >= 1, '
                             f'got {num_steps!r}.')
        if mode not in WALK_MODES:
            raise ValueError(f'Unknown RandomWalk mode {mode!r}; expected '
                             f'one of {WALK_MODES}.')
        if mode == 'dense' and num_steps & (num_steps - 1):
            raise ValueError(
                f'RandomWalk mode "dense" squares the transition matrix, so '
                f'num_steps must be a power of 2, got {num_steps}; use mode '
                '"sparse" for other walk lengths.')
        self.beta = beta
        self.num_steps = num_steps
        self.mode = mode

    def __call__(self, scores: Tensor, affinities: Tensor,
                 directions: Tensor) -> Tensor:
        """Walk the scores.

        Args:
            scores (Tensor): (K, h, w) class scores.
            affinities (Tensor): (D, h, w) non-negative affinity of (i, j)
                with (i, j) + directions[k] (``'full'`` region; entries
                whose destination lies outside the map are ignored).
            directions (Tensor): (D, 2) offsets (dy, dx).

        Returns:
            Tensor: (K, h, w) float32 scores after ``num_steps`` steps.
        """
        _check_graph(affinities, directions)
        if scores.dim() != 3 or scores.shape[1:] != affinities.shape[1:]:
            raise ValueError(
                f'scores must be (K, h, w) with the (h, w) of affinities '
                f'{tuple(affinities.shape[1:])}, got {tuple(scores.shape)}.')
        if affinities.numel() and affinities.min() < 0:
            raise ValueError('RandomWalk affinities must be >= 0, got a '
                             f'minimum of {affinities.min().item()}.')
        scores, affinities = scores.float(), affinities.float()
        flat = scores.flatten(1)
        if self.mode == 'sparse':
            walked = self._sparse_walk(flat, affinities, directions)
        else:
            walked = self._dense_walk(flat, affinities, directions)
        return walked.reshape(scores.shape)

    def _sparse_walk(self, flat: Tensor, affinities: Tensor,
                     directions: Tensor) -> Tensor:
        """(K, N) scores times T^num_steps, one sparse product a step."""
        transition = sparse_transition_matrix(affinities, directions,
                                              self.beta)
        columns = flat.T.contiguous()
        for _ in range(self.num_steps):
            columns = transition @ columns
        return columns.T

    def _dense_walk(self, flat: Tensor, affinities: Tensor,
                    directions: Tensor) -> Tensor:
        """(K, N) scores times T^num_steps by repeated squaring of T."""
        transition = dense_affinity_matrix(affinities, directions).pow_(
            self.beta)
        transition /= transition.sum(dim=0, keepdim=True)
        for _ in range(int(math.log2(self.num_steps))):
            transition = transition @ transition
        return flat @ transition

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(beta={self.beta}, '
                f'num_steps={self.num_steps}, mode={self.mode!r})')
