import pytest
import torch

from wsstool.models.losses.displacement_loss import DisplacementLoss
from wsstool.models.utils.path_index import PathIndex
from wsstool.registry import MODELS


def _loop_losses(displacement, bg_pos, fg_pos, directions, margin):
    """IRN's L_dp_fg and L_dp_bg (unweighted) with explicit loops."""
    fg_sum = bg_sum = 0.0
    fg_count = bg_count = 0
    batch, _, height, width = displacement.shape
    for b in range(batch):
        for k, (dy, dx) in enumerate(directions.tolist()):
            for y in range(height - margin):
                for x in range(width - 2 * margin):
                    sy, sx = y, x + margin
                    ty, tx = sy + dy, sx + dx
                    diff = [
                        float(displacement[b, c, sy, sx] -
                              displacement[b, c, ty, tx]) for c in range(2)
                    ]
                    if fg_pos[b, k, y, x]:
                        fg_sum += abs(diff[0] - dy) + abs(diff[1] - dx)
                        fg_count += 1
                    if bg_pos[b, k, y, x]:
                        bg_sum += abs(diff[0]) + abs(diff[1])
                        bg_count += 1
    return (fg_sum / (2 * fg_count + 1e-5), bg_sum / (2 * bg_count + 1e-5))


def test_matches_loop_computation():
    torch.manual_seed(0)
    path_index = PathIndex(3)
    margin, directions = path_index.margin, path_index.directions
    displacement = torch.randn(2, 2, 6, 8) * 2
    shape = (2, len(directions), 6 - margin, 8 - 2 * margin)
    bg_pos = torch.rand(shape) < 0.4
    fg_pos = ~bg_pos & (torch.rand(shape) < 0.5)

    losses = MODELS.build(dict(type='DisplacementLoss'))(
        displacement, bg_pos, fg_pos, directions, margin)
    fg, bg = _loop_losses(displacement, bg_pos, fg_pos, directions, margin)
    assert set(losses) == {'loss_dp_fg', 'loss_dp_bg'}
    # Default weight 0.5: IRN's (L_dp_fg + L_dp_bg) / 2.
    assert losses['loss_dp_fg'].item() == pytest.approx(fg / 2, rel=1e-5)
    assert losses['loss_dp_bg'].item() == pytest.approx(bg / 2, rel=1e-5)


def test_hand_computed_pair():
    # Radius 2: margin 1, a 2 x 3 map has the single source pixel (0, 1).
    path_index = PathIndex(2)
    directions = path_index.directions
    down = directions.tolist().index([1, 0])
    displacement = torch.zeros(1, 2, 2, 3)
    displacement[0, :, 0, 1] = torch.tensor([3.0, -1.0])
    fg_pos = torch.zeros(1, len(directions), 1, 1, dtype=torch.bool)
    fg_pos[0, down] = True
    bg_pos = torch.zeros_like(fg_pos)
    bg_pos[0, down] = True
    losses = DisplacementLoss(loss_weight=1.0)(displacement, bg_pos, fg_pos,
                                               directions, 1)
    # D(i) - D(j) = (3, -1); fg: |3 - 1| + |-1 - 0| = 3; bg: 3 + 1 = 4.
    assert losses['loss_dp_fg'].item() == pytest.approx(3 / 2, rel=1e-5)
    assert losses['loss_dp_bg'].item() == pytest.approx(4 / 2, rel=1e-5)


def test_no_pairs_give_zero_and_gradient_flows():
    path_index = PathIndex(2)
    displacement = torch.randn(1, 2, 4, 5, requires_grad=True)
    shape = (1, len(path_index.directions), 3, 3)
    none = torch.zeros(shape, dtype=torch.bool)
    losses = DisplacementLoss()(displacement, none, none,
                                path_index.directions, path_index.margin)
    assert losses['loss_dp_fg'].item() == 0
    assert losses['loss_dp_bg'].item() == 0

    pairs = torch.ones(shape, dtype=torch.bool)
    losses = DisplacementLoss()(displacement, pairs, pairs,
                                path_index.directions, path_index.margin)
    sum(losses.values()).backward()
    assert displacement.grad.abs().sum() > 0


def test_shape_mismatch_is_reported():
    path_index = PathIndex(2)
    displacement = torch.randn(1, 2, 4, 5)
    wrong = torch.zeros(1, len(path_index.directions), 4, 5, dtype=torch.bool)
    with pytest.raises(ValueError, match=r'\(1, 4, 3, 3\)'):
        DisplacementLoss()(displacement, wrong, wrong, path_index.directions,
                           path_index.margin)
